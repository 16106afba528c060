//! `airlock sandbox|svc|image|doctor`.

use std::io::Write;

use airlock_control::api::types::{
    BackendInfo, BuildImageRequest, CreateSandboxRequest, ImageSummary, SandboxInfo,
};
use airlock_wire::{ExecRequest, ServiceInfo, SvcRequest};
use futures_util::StreamExt;
use reqwest::Method;

use crate::cli::{
    CreateArgs, ImageCommand, JsonFlag, SandboxCommand, SshArgs, SvcArgs, SvcCommand,
};
use crate::client::Api;
use crate::exit::{CliError, Exit, usage};
use crate::home::Home;
use crate::output;

fn api() -> anyhow::Result<Api> {
    Api::logged_in(&Home::from_env()?)
}

/// Path segments come from the command line; keep them to one segment.
pub fn segment(s: &str) -> anyhow::Result<&str> {
    if s.is_empty() || s.contains(['/', '?', '#', '%']) {
        return Err(usage(format!("{s:?} is not a valid name")));
    }
    Ok(s)
}

pub async fn run(cmd: SandboxCommand) -> anyhow::Result<()> {
    match cmd {
        SandboxCommand::Create(a) => create(a).await,
        SandboxCommand::Ls { all, ended, json } => ls(all, ended, json).await,
        SandboxCommand::Rm { name } => {
            let path = format!("/v1/sandboxes/{}", segment(&name)?);
            api()?.call_empty::<()>(Method::DELETE, &path, None).await?;
            output::say(format!("Removed sandbox {name}"));
            Ok(())
        }
    }
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    let req = CreateSandboxRequest {
        name: a.name,
        ttl: a.ttl,
        backend: Some(a.backend),
        image: a.image,
        cpus: a.cpus,
        memory: a.memory,
        disk: a.disk,
        profile: a.profile,
    };
    let sb: SandboxInfo = api()?.post("/v1/sandboxes", &req).await?;
    if a.json {
        return output::json(&sb);
    }
    output::say(format!(
        "Created sandbox {} ({}, {} isolation, image {}), expires {}",
        sb.name, sb.id, sb.backend, sb.image, sb.expires
    ));
    if a.detach || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(());
    }
    super::exec::ssh(SshArgs {
        name: sb.name,
        root: false,
    })
    .await
}

async fn ls(all: bool, ended: bool, json: bool) -> anyhow::Result<()> {
    let mut q = Vec::new();
    if all {
        q.push("all=true");
    }
    if ended {
        q.push("ended=true");
    }
    let qs = if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    };
    let list: Vec<SandboxInfo> = api()?.get(&format!("/v1/sandboxes{qs}")).await?;
    if json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.id.clone(),
                s.owner.clone(),
                s.backend.clone(),
                s.image.clone(),
                s.state.clone(),
                s.created.clone(),
                s.expires.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "NAME", "ID", "OWNER", "BACKEND", "IMAGE", "STATE", "CREATED", "EXPIRES",
        ],
        &rows,
    );
    Ok(())
}

pub async fn svc(a: SvcArgs) -> anyhow::Result<()> {
    let api = api()?;
    let base = format!("/v1/sandboxes/{}/services", segment(&a.sandbox)?);
    let req = match a.command {
        SvcCommand::Logs { name, follow, tail } => {
            let mut qs = format!("?follow={follow}");
            if let Some(n) = tail {
                qs.push_str(&format!("&tail={n}"));
            }
            let resp = api
                .get_stream(&format!("{base}/{}/logs{qs}", segment(&name)?))
                .await?;
            let mut body = resp.bytes_stream();
            let mut stdout = std::io::stdout();
            while let Some(chunk) = body.next().await {
                stdout.write_all(&chunk?)?;
                stdout.flush()?;
            }
            return Ok(());
        }
        SvcCommand::Start {
            name,
            restart,
            command,
        } => SvcRequest::Start {
            name,
            exec: ExecRequest::new(command),
            restart_on_failure: restart,
        },
        SvcCommand::Stop { name } => SvcRequest::Stop { name },
        SvcCommand::Restart { name } => SvcRequest::Restart { name },
        SvcCommand::Ls(JsonFlag { json }) => {
            let list: Vec<ServiceInfo> = api.post(&base, &SvcRequest::Ls).await?;
            return print_services(&list, json);
        }
    };
    let list: Vec<ServiceInfo> = api.post(&base, &req).await?;
    print_services(&list, false)
}

fn print_services(list: &[ServiceInfo], json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                format!("{:?}", s.state).to_lowercase(),
                s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                s.restarts.to_string(),
                s.argv.join(" "),
            ]
        })
        .collect();
    output::table(&["NAME", "STATE", "PID", "RESTARTS", "COMMAND"], &rows);
    Ok(())
}

pub async fn image(cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Build {
            name,
            packages,
            suite,
        } => build_image(name, packages, suite).await,
        ImageCommand::Ls(JsonFlag { json }) => {
            let list: Vec<ImageSummary> = api()?.get("/v1/images").await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|i| {
                    vec![
                        i.name.clone(),
                        i.source.clone(),
                        i.size.map(human_size).unwrap_or_default(),
                        i.packages.join(","),
                        i.created.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(&["NAME", "SOURCE", "SIZE", "PACKAGES", "CREATED"], &rows);
            Ok(())
        }
        ImageCommand::Rm { name } => {
            let path = format!("/v1/images/{}", segment(&name)?);
            api()?.call_empty::<()>(Method::DELETE, &path, None).await?;
            output::say(format!("Removed image {name}"));
            Ok(())
        }
    }
}

fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

async fn build_image(
    name: String,
    packages: Vec<String>,
    suite: Option<String>,
) -> anyhow::Result<()> {
    let req = BuildImageRequest {
        name: name.clone(),
        packages,
        suite,
    };
    let resp = api()?
        .stream(Method::POST, "/v1/images", Some(&req))
        .await?;
    let bar = indicatif::ProgressBar::new(100);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40.cyan/blue} {pos:>3}% {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut body = resp.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        pending.extend_from_slice(&chunk?);
        while let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let v: serde_json::Value = serde_json::from_slice(&line)?;
            if let Some(p) = v.get("percent").and_then(|p| p.as_u64()) {
                bar.set_position(p);
                bar.set_message(v["line"].as_str().unwrap_or_default().to_owned());
            } else if let Some(done) = v.get("done") {
                bar.finish_and_clear();
                let img: ImageSummary = serde_json::from_value(done.clone())?;
                output::say(format!(
                    "Built image {} ({}, {})",
                    img.name,
                    img.source,
                    img.size.map(human_size).unwrap_or_default()
                ));
                return Ok(());
            } else if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
                bar.abandon();
                return Err(
                    CliError::new(Exit::Failure, format!("image build failed: {err}")).into(),
                );
            }
        }
    }
    bar.abandon();
    Err(CliError::new(Exit::Unavailable, "the server ended the build stream early").into())
}

pub async fn doctor(a: JsonFlag) -> anyhow::Result<()> {
    let list: Vec<BackendInfo> = api()?.get("/v1/node/backends").await?;
    if a.json {
        return output::json(&list);
    }
    let auto = list.iter().find(|b| b.usable).map(|b| b.name.clone());
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|b| {
            vec![
                b.name.clone(),
                if b.usable { "yes" } else { "no" }.into(),
                b.detail.clone(),
            ]
        })
        .collect();
    output::table(&["BACKEND", "USABLE", "DETAIL"], &rows);
    match auto {
        Some(b) => output::say(format!("--backend auto picks {b}")),
        None => output::say("no backend is usable on this node"),
    }
    Ok(())
}
