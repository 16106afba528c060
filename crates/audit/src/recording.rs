//! Session recordings in asciicast v2, and their replay.
//!
//! A file is a JSON header line (`{"version":2,"width":…,"height":…,
//! "timestamp":…}`) followed by one `[seconds, "o"|"i"|"r", data]` line per
//! event. The writer hashes what it writes and fsyncs on finish; the caller
//! logs the SHA-256 as a `recording.finished` event, which ties the file to
//! the tamper-evident log.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// What went wrong with a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Reading or writing the file failed.
    #[error("recording {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an asciicast v2 recording.
    #[error("not an asciicast v2 recording (line {line}): {reason}")]
    Format {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The playback speed is not a positive number.
    #[error("invalid speed {0}: use a positive number such as 0.5, 1 or 2")]
    Speed(f64),
}

/// The header line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingHeader {
    /// Always 2.
    pub version: u8,
    /// Terminal columns.
    pub width: u16,
    /// Terminal rows.
    pub height: u16,
    /// Start time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// A title (e.g. `alice@sb-1234`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Captured environment (TERM, SHELL).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl RecordingHeader {
    /// A header for a `width`×`height` terminal started at `timestamp`.
    pub fn new(width: u16, height: u16, timestamp: i64) -> Self {
        Self {
            version: 2,
            width,
            height,
            timestamp: Some(timestamp),
            title: None,
            env: BTreeMap::new(),
        }
    }
}

/// The kind of a recorded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Terminal output (`"o"`).
    Output,
    /// Keyboard input (`"i"`).
    Input,
    /// Terminal resize (`"r"`, data `COLSxROWS`).
    Resize,
    /// A marker (`"m"`).
    Marker,
}

impl EventKind {
    fn code(self) -> &'static str {
        match self {
            Self::Output => "o",
            Self::Input => "i",
            Self::Resize => "r",
            Self::Marker => "m",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "o" => Self::Output,
            "i" => Self::Input,
            "r" => Self::Resize,
            "m" => Self::Marker,
            _ => return None,
        })
    }
}

/// What [`RecordingWriter::finish`] reports; log it as `recording.finished`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    /// The file written.
    pub path: PathBuf,
    /// SHA-256 of the whole file.
    pub sha256: Hash,
    /// File size.
    pub bytes: u64,
    /// Time of the last event.
    pub duration: Duration,
}

/// Writes one recording.
#[derive(Debug)]
pub struct RecordingWriter {
    path: PathBuf,
    out: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
    start: Instant,
    last: Duration,
    /// Trailing bytes of an incomplete UTF-8 sequence, per stream (o, i):
    /// terminal reads split characters anywhere.
    pending: [Vec<u8>; 2],
}

impl RecordingWriter {
    /// Creates the file (mode 0600: recordings hold what was typed and shown;
    /// refuses to overwrite) and writes the header.
    pub fn create(path: &Path, header: &RecordingHeader) -> Result<Self, RecordingError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let mut w = Self {
            path: path.to_owned(),
            out: BufWriter::new(file),
            hasher: Sha256::new(),
            bytes: 0,
            start: Instant::now(),
            last: Duration::ZERO,
            pending: [Vec::new(), Vec::new()],
        };
        let mut line = serde_json::to_vec(header).expect("headers serialize");
        line.push(b'\n');
        w.write_raw(&line)?;
        Ok(w)
    }

    /// Records terminal output now.
    pub fn output(&mut self, data: &[u8]) -> Result<(), RecordingError> {
        self.write_at(self.start.elapsed(), EventKind::Output, data)
    }

    /// Records keyboard input now.
    pub fn input(&mut self, data: &[u8]) -> Result<(), RecordingError> {
        self.write_at(self.start.elapsed(), EventKind::Input, data)
    }

    /// Records a terminal resize now.
    pub fn resize(&mut self, cols: u16, rows: u16) -> Result<(), RecordingError> {
        let data = format!("{cols}x{rows}");
        self.write_at(self.start.elapsed(), EventKind::Resize, data.as_bytes())
    }

    /// Records an event at `t` after the start (times never go backwards: an
    /// earlier `t` is recorded at the previous event's time).
    pub fn write_at(
        &mut self,
        t: Duration,
        kind: EventKind,
        data: &[u8],
    ) -> Result<(), RecordingError> {
        let t = t.max(self.last);
        self.last = t;
        let text = match kind {
            EventKind::Output => self.take_complete(0, data),
            EventKind::Input => self.take_complete(1, data),
            _ => String::from_utf8_lossy(data).into_owned(),
        };
        if text.is_empty() {
            return Ok(());
        }
        self.write_event(t, kind, &text)
    }

    fn write_event(
        &mut self,
        t: Duration,
        kind: EventKind,
        text: &str,
    ) -> Result<(), RecordingError> {
        let data = serde_json::to_string(text).expect("strings serialize");
        let line = format!("[{:.6}, \"{}\", {data}]\n", t.as_secs_f64(), kind.code());
        self.write_raw(line.as_bytes())
    }

    /// Joins pending bytes with `data` and returns the complete characters,
    /// keeping an incomplete trailing sequence for the next call.
    fn take_complete(&mut self, stream: usize, data: &[u8]) -> String {
        let buf = &mut self.pending[stream];
        buf.extend_from_slice(data);
        let cut = complete_prefix(buf);
        let rest = buf.split_off(cut);
        let text = String::from_utf8_lossy(buf).into_owned();
        *buf = rest;
        text
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), RecordingError> {
        self.out
            .write_all(bytes)
            .map_err(|e| io_err(&self.path, e))?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Flushes what is pending, fsyncs, and returns the file's hash.
    pub fn finish(mut self) -> Result<RecordingSummary, RecordingError> {
        for (stream, kind) in [(0, EventKind::Output), (1, EventKind::Input)] {
            let rest = std::mem::take(&mut self.pending[stream]);
            if !rest.is_empty() {
                let text = String::from_utf8_lossy(&rest).into_owned();
                self.write_event(self.last, kind, &text)?;
            }
        }
        let path = self.path.clone();
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_err(&path, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&path, e))?;
        Ok(RecordingSummary {
            path,
            sha256: self.hasher.finalize().into(),
            bytes: self.bytes,
            duration: self.last,
        })
    }
}

/// Length of the longest prefix that does not end inside a UTF-8 sequence.
fn complete_prefix(buf: &[u8]) -> usize {
    let len = buf.len();
    for back in 1..=len.min(3) {
        let b = buf[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let need = match b {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if need > back { len - back } else { len };
    }
    len
}

fn io_err(path: &Path, source: std::io::Error) -> RecordingError {
    RecordingError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// SHA-256 of a file, to check a recording against its audit event.
pub fn file_sha256(path: &Path) -> Result<Hash, RecordingError> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| io_err(path, e))?;
    Ok(h.finalize().into())
}

/// One event read back.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Seconds since the start.
    pub time: f64,
    /// Its kind.
    pub kind: EventKind,
    /// Its data.
    pub data: String,
}

/// A parsed recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The header.
    pub header: RecordingHeader,
    /// The events, in file order.
    pub events: Vec<RecordedEvent>,
}

impl Recording {
    /// Reads and parses a recording file.
    pub fn read(path: &Path) -> Result<Self, RecordingError> {
        let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
        Self::parse(&text)
    }

    /// Parses asciicast v2 text (untrusted: every malformation is an error).
    pub fn parse(text: &str) -> Result<Self, RecordingError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines
            .next()
            .ok_or_else(|| format_err(1, "the file is empty"))?;
        let header: RecordingHeader =
            serde_json::from_str(first).map_err(|e| format_err(1, &e.to_string()))?;
        if header.version != 2 {
            return Err(format_err(1, "version must be 2"));
        }
        let events = lines
            .map(|(i, l)| parse_event(i + 1, l))
            .collect::<Result<_, _>>()?;
        Ok(Self { header, events })
    }

    /// The output steps to replay at `speed` (2 = twice as fast), each with
    /// the delay to wait before writing it. Pauses longer than `max_idle`
    /// (seconds, after scaling) are shortened to it, if given.
    pub fn playback(
        &self,
        speed: f64,
        max_idle: Option<f64>,
    ) -> Result<Vec<(Duration, &str)>, RecordingError> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(RecordingError::Speed(speed));
        }
        let mut prev = 0.0f64;
        let mut steps = Vec::new();
        for ev in self.events.iter().filter(|e| e.kind == EventKind::Output) {
            let mut gap = ((ev.time - prev).max(0.0)) / speed;
            prev = prev.max(ev.time);
            if let Some(limit) = max_idle.filter(|l| l.is_finite() && *l >= 0.0) {
                gap = gap.min(limit);
            }
            steps.push((Duration::from_secs_f64(gap.min(86_400.0)), ev.data.as_str()));
        }
        Ok(steps)
    }
}

fn format_err(line: usize, reason: &str) -> RecordingError {
    RecordingError::Format {
        line,
        reason: reason.chars().take(200).collect(),
    }
}

fn parse_event(line: usize, text: &str) -> Result<RecordedEvent, RecordingError> {
    let v: Value = serde_json::from_str(text).map_err(|e| format_err(line, &e.to_string()))?;
    let arr = v
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or_else(|| format_err(line, "an event is [time, code, data]"))?;
    let time = arr[0]
        .as_f64()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| format_err(line, "time must be a non-negative number"))?;
    let kind = arr[1]
        .as_str()
        .and_then(EventKind::parse)
        .ok_or_else(|| format_err(line, "code must be o, i, r or m"))?;
    let data = arr[2]
        .as_str()
        .ok_or_else(|| format_err(line, "data must be a string"))?
        .to_owned();
    Ok(RecordedEvent { time, kind, data })
}

/// Replays the output of `rec` to `out` with the original timing scaled by
/// `speed`, calling `sleep` for each delay (the CLI passes
/// `std::thread::sleep`; tests pass a recorder).
pub fn play(
    rec: &Recording,
    speed: f64,
    max_idle: Option<f64>,
    out: &mut dyn Write,
    sleep: &mut dyn FnMut(Duration),
) -> Result<(), RecordingError> {
    let io = |e| io_err(Path::new("<terminal>"), e);
    for (delay, data) in rec.playback(speed, max_idle)? {
        sleep(delay);
        out.write_all(data.as_bytes()).map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(())
}
