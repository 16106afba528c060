//! asciicast v2 recordings: written, hashed, parsed, replayed, and accepted
//! by the real `asciinema` player.

use std::path::Path;
use std::time::Duration;

use airlock_audit::recording::{
    EventKind, Recording, RecordingHeader, RecordingWriter, file_sha256, play,
};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A session with a multi-byte character split across two reads.
fn write_session(path: &Path) -> airlock_audit::recording::RecordingSummary {
    let mut header = RecordingHeader::new(80, 24, 1_735_689_600);
    header.title = Some("alice@sb-1".into());
    header.env.insert("TERM".into(), "xterm-256color".into());
    let mut w = RecordingWriter::create(path, &header).unwrap();
    w.write_at(secs(0.1), EventKind::Output, b"$ ").unwrap();
    w.write_at(secs(0.5), EventKind::Input, b"ls\r").unwrap();
    w.write_at(secs(0.6), EventKind::Output, b"caf\xc3")
        .unwrap();
    w.write_at(secs(0.7), EventKind::Output, b"\xa9 \"q\"\r\n")
        .unwrap();
    w.write_at(secs(1.5), EventKind::Resize, b"100x30").unwrap();
    w.write_at(secs(2.5), EventKind::Output, b"bye\r\n")
        .unwrap();
    w.finish().unwrap()
}

const OUTPUT: &str = "$ caf\u{e9} \"q\"\r\nbye\r\n";

#[test]
fn writes_asciicast_v2_and_hashes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.cast");
    let summary = write_session(&path);
    assert_eq!(summary.sha256, file_sha256(&path).unwrap());
    assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(summary.duration, secs(2.5));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"version":2,"width":80,"height":24,"timestamp":1735689600,"title":"alice@sb-1","env":{"TERM":"xterm-256color"}}"#
    );
    assert_eq!(lines[1], r#"[0.100000, "o", "$ "]"#);
    assert_eq!(lines[2], r#"[0.500000, "i", "ls\r"]"#);
    assert_eq!(lines[3], r#"[0.600000, "o", "caf"]"#);
    assert_eq!(lines[4], "[0.700000, \"o\", \"\u{e9} \\\"q\\\"\\r\\n\"]");
    assert_eq!(lines[5], r#"[1.500000, "r", "100x30"]"#);
    // Recordings are never overwritten.
    assert!(RecordingWriter::create(&path, &RecordingHeader::new(1, 1, 0)).is_err());
}

#[test]
fn replays_with_original_timing_and_speed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.cast");
    write_session(&path);
    let rec = Recording::read(&path).unwrap();
    let steps = rec.playback(1.0, None).unwrap();
    let delays: Vec<Duration> = steps.iter().map(|s| s.0).collect();
    let near = |a: Duration, b: f64| (a.as_secs_f64() - b).abs() < 1e-6;
    for (got, want) in delays.iter().zip([0.1, 0.5, 0.1, 1.8]) {
        assert!(near(*got, want), "{delays:?}");
    }
    let fast = rec.playback(2.0, Some(0.5)).unwrap();
    assert!(near(fast[3].0, 0.5), "idle limit caps the 0.9 s pause");
    assert!(near(fast[1].0, 0.25), "speed 2 halves the delays");
    let mut out = Vec::new();
    let mut slept = Duration::ZERO;
    play(&rec, 1.0, None, &mut out, &mut |d| slept += d).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), OUTPUT);
    assert!(near(slept, 2.5));
    assert!(rec.playback(0.0, None).is_err());
    assert!(rec.playback(f64::NAN, None).is_err());
}

#[test]
fn malformed_recordings_are_refused() {
    for bad in [
        "",
        "not json\n",
        "{\"version\":1,\"width\":80,\"height\":24}\n",
        "{\"version\":2,\"width\":80,\"height\":24}\n[1.0, \"x\", \"a\"]\n",
        "{\"version\":2,\"width\":80,\"height\":24}\n[-1.0, \"o\", \"a\"]\n",
        "{\"version\":2,\"width\":80,\"height\":24}\n[1.0, \"o\"]\n",
        "{\"version\":2,\"width\":80,\"height\":24}\n[1.0, \"o\", 5]\n",
    ] {
        assert!(Recording::parse(bad).is_err(), "{bad:?}");
    }
    let err = Recording::parse("{\"version\":2,\"width\":80,\"height\":24}\n[1.0, \"o\"]\n");
    assert!(err.unwrap_err().to_string().contains("line 2"));
}

#[test]
fn asciinema_cat_accepts_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.cast");
    write_session(&path);
    if which("asciinema").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs asciinema: apt-get install -y asciinema"
        );
        eprintln!("SKIPPED: asciinema is not installed; apt-get install -y asciinema");
        return;
    }
    // `asciinema cat` opens /dev/tty, so give it a pseudo-terminal via script(1).
    let cmd = format!("asciinema cat '{}'", path.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) from util-linux runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The pty may add carriage returns; compare without them.
    let got = String::from_utf8(out.stdout).unwrap().replace('\r', "");
    assert_eq!(got, OUTPUT.replace('\r', ""));
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}
