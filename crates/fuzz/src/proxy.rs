//! The proxy's parsers of bytes from outside: inference streams from an
//! upstream, destinations named by a sandbox.

use airlock_proxy::fuzzing::{destination, model_glob, sse_through};

/// An SSE stream tapped for usage, with and without stripping the usage
/// chunk the proxy asked for. However the bytes are split into chunks, the
/// sandbox gets the same bytes and the same usage is counted; without
/// stripping, the sandbox gets exactly what the upstream sent.
pub fn sse(data: &[u8]) {
    let (rest, (a, b)) = crate::split_by_first_byte(data);
    for strip in [false, true] {
        let whole = sse_through(strip, &[rest]);
        let split = sse_through(strip, &[a, b]);
        let bytewise: Vec<&[u8]> = rest.chunks(1).collect();
        assert_eq!(whole, split, "tap depends on chunking (strip: {strip})");
        assert_eq!(
            whole,
            sse_through(strip, &bytewise),
            "tap differs byte by byte"
        );
        if !strip {
            assert_eq!(whole.0, rest, "a pass-through tap changed the stream");
        }
    }
}

/// Chat-completion and messages streams as upstreams send them.
pub fn sse_seeds() -> Vec<Vec<u8>> {
    let chat = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n\
                data: [DONE]\n\n";
    let messages = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":\
                    {\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\r\n\r\n\
                    event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\
                    \"delta\":{\"text\":\"ok\"}}\r\n\r\n\
                    event: message_delta\r\ndata: {\"type\":\"message_delta\",\
                    \"usage\":{\"output_tokens\":7}}\r\n\r\n";
    [chat, messages]
        .iter()
        .map(|s| [&[40u8][..], s.as_bytes()].concat())
        .collect()
}

/// A destination (CONNECT target or Host header) from a sandbox. What the
/// proxy accepts is normalized for good: parsing its printed form gives
/// the same host and port, so policy and audit see one spelling.
pub fn destination_of(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some((host, port, printed)) = destination(&text, 443) {
        let again = destination(&printed, 443).map(|(h, p, _)| (h, p));
        assert_eq!(
            again,
            Some((host, port)),
            "{text:?} normalized to {printed:?}"
        );
    }
}

/// Destinations as clients write them.
pub fn destination_seeds() -> Vec<Vec<u8>> {
    [
        "api.example.com:443",
        "API.Example.com.:8443",
        "[::1]:443",
        "127.0.0.1",
        "[fe80::1%25eth0]:80",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// A model allow-list glob (from an admin) against a model name (from a
/// sandbox's request body): the proxy's matcher, which never backtracks
/// more than once, must agree with the textbook dynamic program.
pub fn glob(data: &[u8]) {
    let (_, (pattern, model)) = crate::split_by_first_byte(data);
    let (p, m) = (
        String::from_utf8_lossy(pattern),
        String::from_utf8_lossy(model),
    );
    let pattern: Vec<char> = p.chars().collect();
    let model: Vec<char> = m.chars().collect();
    if pattern.len() * model.len() > 1 << 16 {
        return;
    }
    assert_eq!(
        model_glob(&p, &m),
        reference_glob(&pattern, &model),
        "{p:?} against {m:?}"
    );
}

/// `*` any run, `?` one character, anything else itself: `ok[j]` says
/// whether the pattern read so far matches the first `j` characters.
fn reference_glob(p: &[char], t: &[char]) -> bool {
    let mut ok = vec![false; t.len() + 1];
    ok[0] = true;
    for &c in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => ok[j] || (j > 0 && next[j - 1]),
                _ => j > 0 && ok[j - 1] && (c == '?' || c == t[j - 1]),
            };
        }
        ok = next;
    }
    ok[t.len()]
}

/// Patterns from the docs against model names, split after the pattern.
pub fn glob_seeds() -> Vec<Vec<u8>> {
    [
        ("gpt-4o*", "gpt-4o-mini"),
        ("claude-*-4-*", "claude-sonnet-4-5"),
        ("claude-?aiku*", "claude-haiku-4"),
        ("a*b*c", "aXbYbZc"),
        ("*", ""),
    ]
    .iter()
    .map(|(p, m)| {
        let len = u8::try_from(p.len()).expect("short pattern");
        [&[len][..], p.as_bytes(), m.as_bytes()].concat()
    })
    .collect()
}
