//! `airlock audit ...` and `airlock play`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use airlock_audit::recording::{Recording, play as replay};
use airlock_audit::{AuditEvent, InclusionProofBundle, NoteSigner, NoteVerifier, VerifyReport};
use airlock_control::DataDir;
use airlock_control::api::AuditKey;
use anyhow::Context;

use crate::cli::{AuditCommand, AuditSearchArgs, PlayArgs};
use crate::client::Api;
use crate::exit::{CliError, Exit, usage};
use crate::home::Home;
use crate::output;

pub async fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Search(a) => search(a).await,
        AuditCommand::Tail {
            follow,
            lines,
            json,
        } => tail(follow, lines, json).await,
        AuditCommand::Export {
            format,
            since,
            output,
        } => export(&format, since, output.as_deref()).await,
        AuditCommand::Verify {
            data_dir: Some(dir),
            key,
            json,
        } => {
            tokio::task::spawn_blocking(move || verify_offline(&dir, key.as_deref(), json)).await?
        }
        AuditCommand::Verify {
            data_dir: None,
            json,
            ..
        } => verify_online(json).await,
        AuditCommand::Prove { id, output } => prove(&id, output.as_deref()).await,
        AuditCommand::VerifyProof { file, key } => verify_proof(&file, key).await,
    }
}

fn api() -> anyhow::Result<Api> {
    Api::logged_in(&Home::from_env()?)
}

/// URL-encodes a query value (they come from the command line).
fn enc(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", enc(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// One event, one line: time, id, code, action, decision, who, what, why.
fn event_line(e: &AuditEvent) -> String {
    let time = airlock_audit::timefmt::format(&e.time);
    let time = time.get(..19).unwrap_or(&time);
    let who = match (&e.user, &e.workload) {
        (Some(u), Some(w)) => format!("{u} via {w}"),
        (Some(u), None) => u.to_string(),
        (None, _) => "-".into(),
    };
    let mut line = format!(
        "{time}Z {:<8} {} {:<18} {:<5} {who}",
        e.id,
        e.code.id(),
        e.action,
        e.decision
    );
    if let Some(s) = &e.sandbox {
        line.push_str(&format!(" sandbox={s}"));
    }
    if let Some(r) = &e.resource {
        line.push_str(&format!(" resource={r}"));
    }
    if let Some(r) = &e.reason {
        line.push_str(&format!(" reason={r:?}"));
    }
    line
}

async fn search(a: AuditSearchArgs) -> anyhow::Result<()> {
    let qs = query_string(&[
        ("user", a.user.as_deref()),
        ("sandbox", a.sandbox.as_deref()),
        ("action", a.action.as_deref()),
        ("decision", a.decision.as_deref()),
        ("since", a.since.as_deref()),
        ("until", a.until.as_deref()),
        ("limit", a.limit.as_deref()),
    ]);
    let events: Vec<AuditEvent> = api()?.get(&format!("/v1/audit/events{qs}")).await?;
    if a.json {
        return output::json(&events);
    }
    for e in &events {
        output::say(event_line(e));
    }
    Ok(())
}

fn print_events(events: &[AuditEvent], json: bool) -> anyhow::Result<()> {
    for e in events {
        if json {
            output::say(serde_json::to_string(e)?);
        } else {
            output::say(event_line(e));
        }
    }
    Ok(())
}

async fn tail(follow: bool, lines: u32, json: bool) -> anyhow::Result<()> {
    let api = api()?;
    let mut recent: Vec<AuditEvent> = api
        .get(&format!("/v1/audit/events?limit={}", lines.clamp(1, 1000)))
        .await?;
    recent.reverse();
    print_events(&recent, json)?;
    if !follow {
        return Ok(());
    }
    let mut last = recent.last().map(|e| e.seq);
    loop {
        let after = last.map_or_else(|| "0".to_owned(), |s| format!("ev-{s}"));
        let qs = if last.is_some() {
            format!("?after={after}&order=oldest&limit=1000")
        } else {
            "?order=oldest&limit=1000".to_owned()
        };
        let new: Vec<AuditEvent> = api.get(&format!("/v1/audit/events{qs}")).await?;
        print_events(&new, json)?;
        if let Some(e) = new.last() {
            last = Some(e.seq);
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn export(format: &str, since: Option<String>, out: Option<&Path>) -> anyhow::Result<()> {
    let qs = query_string(&[("format", Some(format)), ("since", since.as_deref())]);
    let bytes = api()?.get_bytes(&format!("/v1/audit/export{qs}")).await?;
    write_out(out, &bytes)
}

fn write_out(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

fn report(report: &VerifyReport, json: bool) -> anyhow::Result<()> {
    if json {
        output::json(report)?;
    }
    match &report.problem {
        None => {
            if !json {
                output::say(format!(
                    "audit log intact: {} events, {} signed checkpoints verified (latest covers {}), root {}{}",
                    report.entries,
                    report.checkpoints_verified,
                    report.latest_checkpoint.unwrap_or(0),
                    report.root,
                    if report.unsigned_tail > 0 {
                        format!(
                            "; {} newer events await the next checkpoint",
                            report.unsigned_tail
                        )
                    } else {
                        String::new()
                    }
                ));
            }
            Ok(())
        }
        Some(p) => Err(CliError::new(
            Exit::Failure,
            format!(
                "audit log verification FAILED at event ev-{} ({:?}): {}",
                p.index, p.kind, p.detail
            ),
        )
        .into()),
    }
}

async fn verify_online(json: bool) -> anyhow::Result<()> {
    let r: VerifyReport = api()?.get("/v1/audit/verify").await?;
    report(&r, json)
}

/// Offline: the server may be compromised, so read the files directly.
fn verify_offline(dir: &Path, key: Option<&str>, json: bool) -> anyhow::Result<()> {
    let dir = DataDir::new(dir);
    if !dir.audit_dir().exists() {
        return Err(usage(format!(
            "{} has no audit log (audit/); is it an Airlock data directory?",
            dir.root().display()
        )));
    }
    let verifier = match key {
        Some(k) => NoteVerifier::from_vkey(k.trim()).map_err(|e| usage(format!("--key: {e}")))?,
        None => key_from_data_dir(&dir)?,
    };
    let r = airlock_audit::verify_store(&dir.audit_dir(), &verifier)?;
    report(&r, json)
}

fn key_from_data_dir(dir: &DataDir) -> anyhow::Result<NoteVerifier> {
    let store = airlock_store::SqliteStore::open(&dir.state_db())
        .context("cannot read state.db to find the audit origin; pass --key")?;
    let td = airlock_store::Store::meta(&store, "trust_domain")?
        .context("state.db has no trust domain; pass --key")?;
    let origin = airlock_control::audit::origin_for(&td);
    let signer = NoteSigner::load(&origin, &dir.audit_key())
        .context("cannot read the audit key; pass --key with the published key")?;
    Ok(signer.verifier())
}

async fn prove(id: &str, out: Option<&Path>) -> anyhow::Result<()> {
    if id.contains(['/', '?', '#']) {
        return Err(usage(format!("{id:?} is not an event id (e.g. ev-42)")));
    }
    let bundle: serde_json::Value = api()?.get(&format!("/v1/audit/events/{id}/proof")).await?;
    let mut text = serde_json::to_string_pretty(&bundle)?;
    text.push('\n');
    write_out(out, text.as_bytes())
}

async fn verify_proof(file: &Path, key: Option<String>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bundle: InclusionProofBundle = serde_json::from_str(&text)
        .map_err(|e| usage(format!("{} is not an Airlock proof: {e}", file.display())))?;
    let vkey = match key {
        Some(k) => k,
        None => api()?.get::<AuditKey>("/v1/audit/key").await?.vkey,
    };
    let verifier =
        NoteVerifier::from_vkey(vkey.trim()).map_err(|e| usage(format!("--key: {e}")))?;
    let event = airlock_audit::verify_proof_bundle(&bundle, &verifier)
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    output::say(format!(
        "proof verified: {} is in the log signed by {}",
        event.id,
        verifier.name()
    ));
    output::say(event_line(&event));
    Ok(())
}

/// Plays a local file, or a recording id (`rec-...`) fetched from the server.
pub async fn play(a: PlayArgs) -> anyhow::Result<()> {
    if !(a.speed > 0.0 && a.speed.is_finite()) {
        return Err(usage("--speed must be a positive number"));
    }
    let arg = a.recording.to_string_lossy().into_owned();
    let rec = if !a.recording.exists() && arg.starts_with("rec-") && !arg.contains('/') {
        let bytes = api()?.get_bytes(&format!("/v1/recordings/{arg}")).await?;
        let text = String::from_utf8(bytes).map_err(|_| usage("the recording is not UTF-8"))?;
        Recording::parse(&text).map_err(|e| usage(e.to_string()))?
    } else {
        Recording::read(&a.recording).map_err(|e| usage(e.to_string()))?
    };
    let mut out = std::io::stdout().lock();
    replay(&rec, a.speed, a.max_idle, &mut out, &mut std::thread::sleep)?;
    Ok(())
}
