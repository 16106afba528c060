//! The audit layer's untrusted inputs. A reviewer runs `airlock audit
//! verify --data-dir` on files an attacker may have edited, checks proofs
//! and checkpoint notes someone handed over, and replays recordings; the
//! server reads events back from a log that may have been tampered with.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use airlock_audit::file::{checkpoint_path, first_segment_path};
use airlock_audit::recording::{EventKind, Recording, RecordingHeader, RecordingWriter};
use airlock_audit::{
    AuditEvent, AuditLog, Checkpoint, EventCode, InclusionProofBundle, NoteSigner, NoteVerifier,
    QueryParams, verify_proof_bundle, verify_store,
};
use airlock_core::{SandboxId, SpiffeId, TrustDomain, UserName};

const ORIGIN: &str = "fuzz.airlock/audit";

/// The signing key of the seed log; fixed so that every run (and every
/// cargo-fuzz worker) verifies against the same public key.
fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[7; 32]).expect("signer")
}

fn verifier() -> &'static NoteVerifier {
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| signer().verifier())
}

/// What a real log left on disk, and what it answered.
struct SeedLog {
    segment: Vec<u8>,
    checkpoints: Vec<u8>,
    note: String,
    proof: Vec<u8>,
    events: Vec<Vec<u8>>,
}

fn seed_log() -> &'static SeedLog {
    static LOG: OnceLock<SeedLog> = OnceLock::new();
    LOG.get_or_init(write_seed_log)
}

fn sample_events() -> Vec<AuditEvent> {
    let user = UserName::new("alice").expect("user");
    let sandbox = SandboxId::new("sb-fuzz").expect("sandbox");
    let td = TrustDomain::new("fuzz.airlock").expect("trust domain");
    let workload = SpiffeId::workload(&td, &sandbox);
    (0..12)
        .map(|i| match i % 3 {
            0 => AuditEvent::new(EventCode::UserLogin)
                .user(user.clone())
                .source("10.0.0.1:4242"),
            1 => AuditEvent::new(EventCode::HttpRequest)
                .user(user.clone())
                .workload(workload.clone())
                .sandbox(sandbox.clone())
                .resource("api.example.com")
                .detail("method", "GET")
                .detail("path", "/v1/things"),
            _ => AuditEvent::new(EventCode::SandboxExec)
                .user(user.clone())
                .sandbox(sandbox.clone())
                .deny("exec is not allowed for this role"),
        })
        .collect()
}

fn write_seed_log() -> SeedLog {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(dir.path(), signer(), ORIGIN).expect("open log");
    log.append_many_blocking(sample_events()).expect("append");
    let signed = log.checkpoint_now_blocking().expect("checkpoint");
    let proof = log.prove_blocking("ev-5").expect("prove");
    let events = (0..3)
        .map(|i| {
            let ev = log.get_blocking(&format!("ev-{i}")).expect("event");
            ev.canonical()
        })
        .collect();
    drop(log);
    SeedLog {
        segment: read_trimmed(&first_segment_path(dir.path())),
        checkpoints: std::fs::read(checkpoint_path(dir.path())).expect("checkpoints"),
        note: signed.note,
        proof: serde_json::to_vec_pretty(&proof).expect("proof json"),
        events,
    }
}

/// A segment file without the zeros written ahead of the tail (a page of
/// them is kept: the end of the log is a zeroed record header).
fn read_trimmed(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("segment");
    let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes.truncate((used + 64).min(bytes.len()));
    bytes
}

/// The offline verifier on a log directory made from the input: a `u32`
/// (little-endian) length, that many bytes of segment file, and the rest as
/// the checkpoint file. It must answer with a report or an error.
pub fn store(data: &[u8]) {
    let (segment, checkpoints) = split_store_input(data);
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("tempdir");
    }
    DIR.with(|dir| drop(verify_files(dir.path(), segment, checkpoints)));
}

/// Writes a log directory of one segment and a checkpoint file, and
/// verifies it offline.
fn verify_files(
    dir: &Path,
    segment: &[u8],
    checkpoints: &[u8],
) -> Result<airlock_audit::VerifyReport, airlock_audit::AuditError> {
    std::fs::write(first_segment_path(dir), segment).expect("write segment");
    std::fs::write(checkpoint_path(dir), checkpoints).expect("write checkpoints");
    verify_store(dir, verifier())
}

fn split_store_input(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return (data, &[]);
    };
    rest.split_at((u32::from_le_bytes(*len) as usize).min(rest.len()))
}

/// The input layout of [`store`] for a segment and a checkpoint file.
pub fn store_input(segment: &[u8], checkpoints: &[u8]) -> Vec<u8> {
    let len = u32::try_from(segment.len()).expect("segment under 4 GiB");
    [&len.to_le_bytes()[..], segment, checkpoints].concat()
}

/// The files of a real log.
pub fn store_seeds() -> Vec<Vec<u8>> {
    let log = seed_log();
    vec![store_input(&log.segment, &log.checkpoints)]
}

/// Whether the seed log's own files verify (they must; the smoke test
/// checks it, or the fuzzing would start from a broken log).
pub fn seed_store_verifies() -> bool {
    let log = seed_log();
    let dir = tempfile::tempdir().expect("tempdir");
    verify_files(dir.path(), &log.segment, &log.checkpoints).is_ok_and(|r| r.is_ok())
}

/// A signed checkpoint note, a bare checkpoint body and a verifier key: a
/// note that opens must have been signed over a prefix of itself.
pub fn note(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(body) = verifier().open(&text) {
        assert!(text.starts_with(body), "opened body is not the note's text");
        drop(Checkpoint::parse_body(body));
    }
    drop(Checkpoint::parse_body(&text));
    drop(NoteVerifier::from_vkey(&text));
}

/// A real signed note and the log's verifier key.
pub fn note_seeds() -> Vec<Vec<u8>> {
    vec![
        seed_log().note.clone().into_bytes(),
        verifier().to_vkey().into_bytes(),
    ]
}

/// An inclusion proof file (`airlock audit verify-proof FILE`). A bundle
/// that verifies proves an event that decodes.
pub fn proof(data: &[u8]) {
    if let Ok(bundle) = serde_json::from_slice::<InclusionProofBundle>(data)
        && let Ok(event) = verify_proof_bundle(&bundle, verifier())
    {
        assert_eq!(event.seq, bundle.seq, "proved another event");
    }
}

/// A real proof of the seed log's sixth event.
pub fn proof_seeds() -> Vec<Vec<u8>> {
    vec![seed_log().proof.clone()]
}

/// An event body as stored. One that decodes re-encodes canonically to an
/// event that decodes to the same.
pub fn event(data: &[u8]) {
    if let Ok(ev) = AuditEvent::decode(data) {
        let again = AuditEvent::decode(&ev.canonical()).expect("canonical form decodes");
        assert_eq!(again, ev, "event changed in a round trip");
    }
}

/// Stored bodies of the seed log.
pub fn event_seeds() -> Vec<Vec<u8>> {
    seed_log().events.clone()
}

/// An asciicast v2 recording for `airlock play`, replayed at two speeds.
pub fn recording(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(rec) = Recording::parse(&text) {
        for (speed, max_idle) in [(1.0, None), (1000.0, Some(0.5))] {
            drop(rec.playback(speed, max_idle));
        }
    }
}

/// A recording written by the recorder.
pub fn recording_seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.cast");
    let mut w = RecordingWriter::create(&path, &RecordingHeader::new(80, 24, 1_790_000_000))
        .expect("recording");
    let steps: [(u64, EventKind, &[u8]); 4] = [
        (10, EventKind::Output, b"$ "),
        (250, EventKind::Input, b"ls\r"),
        (
            300,
            EventKind::Output,
            "ls\r\nREADME \u{1b}[1mdocs\u{1b}[0m\r\n".as_bytes(),
        ),
        (900, EventKind::Resize, b"100x40"),
    ];
    for (ms, kind, data) in steps {
        w.write_at(Duration::from_millis(ms), kind, data)
            .expect("record");
    }
    w.finish().expect("finish");
    vec![std::fs::read(&path).expect("read recording")]
}

/// Sets one search parameter (the time and seq bounds in pairs).
type SetParam = fn(&mut QueryParams, Option<String>);

const QUERY_FIELDS: [SetParam; 8] = [
    |p, v| p.user = v,
    |p, v| p.sandbox = v,
    |p, v| p.action = v,
    |p, v| p.decision = v,
    |p, v| (p.since, p.until) = (v.clone(), v),
    |p, v| p.limit = v,
    |p, v| (p.after, p.before) = (v.clone(), v),
    |p, v| p.order = v,
];

/// Search parameters from the CLI or an HTTP query string: each line of
/// the input, in turn, as every parameter. A refusal is one line that
/// names the parameter; an accepted search validates.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let now = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time");
    for line in text.split('\n') {
        let v = Some(line.to_owned());
        let each = QUERY_FIELDS.iter().map(|set| {
            let mut params = QueryParams::default();
            set(&mut params, v.clone());
            params
        });
        for params in each {
            match params.parse(now) {
                Ok(q) => q.validate().expect("a parsed search validates"),
                Err(e) => assert!(!e.to_string().contains('\n'), "two-line error: {e}"),
            }
        }
    }
}

/// A posting list of the search index (`index.db` is as editable as the
/// log): decoding never panics, and what decodes is ascending and encodes
/// back to the same bytes (one encoding per list, so damage cannot hide).
pub fn postings(data: &[u8]) {
    use airlock_audit::file::postings::{decode, encode};
    if let Some(seqs) = decode(data) {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "not ascending");
        assert_eq!(encode(&seqs), data, "a second encoding of the same list");
    }
}

pub fn postings_seeds() -> Vec<Vec<u8>> {
    use airlock_audit::file::postings::encode;
    vec![
        encode(&[0, 1, 2, 300, 70_000, 1 << 40]),
        encode(&(5_000..5_200).step_by(7).collect::<Vec<_>>()),
        encode(&[u64::MAX]),
    ]
}

/// Values the docs show, one per line.
pub fn query_seeds() -> Vec<Vec<u8>> {
    vec![
        b"alice\nsb-0a1b\nsandbox.create\nsandbox.*\nallow\ndeny\n1h\n30m\n\
          2025-01-31T12:00:00Z\n100\nev-42\n42\nnewest\noldest"
            .to_vec(),
    ]
}
