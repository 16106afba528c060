//! What users and clients type: durations, sizes, SPIFFE IDs and names.

use airlock_core::{SandboxId, SandboxName, SpiffeId, UserName, parse_duration, parse_size};

/// Each line of the input through each text parser. A refusal is one
/// line; a SPIFFE ID that parses prints as itself.
pub fn inputs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        one_line(parse_duration(line));
        one_line(parse_size(line));
        one_line(UserName::new(line));
        one_line(SandboxId::new(line));
        one_line(SandboxName::new(line.to_owned()));
        if let Ok(id) = SpiffeId::parse(line) {
            assert_eq!(id.as_str(), line, "SPIFFE ID not kept as written");
        }
    }
}

/// Bad input gets one line, whatever the input held.
fn one_line<T, E: std::fmt::Display>(result: Result<T, E>) {
    if let Err(e) = result {
        let message = e.to_string();
        assert!(!message.contains(['\n', '\r']), "{message:?}");
    }
}

/// One of each, valid.
pub fn seeds() -> Vec<Vec<u8>> {
    vec![
        b"2h30m\n90s\n8h\n512MiB\n10G\n4096\nalice\nsb-0a1b2c3d\nmy-sandbox\n\
          spiffe://airlock.example/sandbox/sb-0a1b2c3d/workload"
            .to_vec(),
    ]
}
