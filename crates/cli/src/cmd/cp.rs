//! `airlock cp [-r] SRC DST`: one side is `NAME:PATH` in a sandbox, the other
//! a local path. Directories travel as a tar stream; `..` in sandbox paths is
//! refused (by the server too), and extraction never writes outside DST.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::StreamExt;
use reqwest::Method;
use tokio::io::AsyncWriteExt;

use super::sandbox::segment;
use crate::cli::CpArgs;
use crate::client::Api;
use crate::exit::usage;
use crate::home::Home;
use crate::output;

/// `NAME:PATH` → (NAME, PATH); a local path (absolute, `./`, or without a
/// colon) → None.
fn remote(spec: &str) -> Option<(&str, &str)> {
    if spec.starts_with('/') || spec.starts_with('.') {
        return None;
    }
    let (name, path) = spec.split_once(':')?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some((name, path))
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn check_remote_path(path: &str) -> anyhow::Result<()> {
    if path.is_empty() {
        return Err(usage(
            "give a path after NAME: (e.g. mybox:/workspace/file)",
        ));
    }
    if path.split('/').any(|s| s == "..") {
        return Err(usage(format!(
            "{path:?} contains '..': sandbox paths are inside the sandbox; write them without '..'"
        )));
    }
    Ok(())
}

pub async fn cp(a: CpArgs) -> anyhow::Result<()> {
    match (remote(&a.src), remote(&a.dst)) {
        (None, Some((name, path))) => upload(Path::new(&a.src), name, path, a.recursive).await,
        (Some((name, path)), None) => download(name, path, Path::new(&a.dst), a.recursive).await,
        (Some(_), Some(_)) => Err(usage("both sides are sandboxes; copy through a local path")),
        (None, None) => Err(usage(
            "neither side is a sandbox; write one side as NAME:PATH, e.g. mybox:/workspace",
        )),
    }
}

async fn upload(local: &Path, name: &str, path: &str, recursive: bool) -> anyhow::Result<()> {
    check_remote_path(path)?;
    let meta =
        std::fs::metadata(local).with_context(|| format!("cannot read {}", local.display()))?;
    let api = Api::logged_in(&Home::from_env()?)?;
    let (body, format, mode) = if meta.is_dir() {
        if !recursive {
            return Err(usage(format!(
                "{} is a directory: use cp -r",
                local.display()
            )));
        }
        let tar = tar_directory(local.to_path_buf()).await?;
        (tokio::fs::File::open(tar.path()).await?, "tar", None)
    } else {
        let mode = meta.permissions().mode() & 0o7777;
        (tokio::fs::File::open(local).await?, "file", Some(mode))
    };
    let mut qs = format!("path={}&format={format}", encode(path));
    if let Some(m) = mode {
        qs.push_str(&format!("&mode={m:o}"));
    }
    let stream = tokio_util::io::ReaderStream::new(body);
    let url = format!("/v1/sandboxes/{}/files?{qs}", segment(name)?);
    let answer = api
        .send_body(Method::PUT, &url, reqwest::Body::wrap_stream(stream))
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    output::say(format!(
        "Copied {} to {name}:{} ({} bytes)",
        local.display(),
        v["path"].as_str().unwrap_or(path),
        v["bytes"]
    ));
    Ok(())
}

/// Packs a directory into a temporary tar file (contents at the top level).
async fn tar_directory(dir: PathBuf) -> anyhow::Result<tempfile::NamedTempFile> {
    tokio::task::spawn_blocking(move || {
        let file = tempfile::NamedTempFile::new()?;
        let mut builder = tar::Builder::new(file.reopen()?);
        builder.follow_symlinks(false);
        builder.append_dir_all(".", &dir)?;
        builder.into_inner()?.sync_all()?;
        Ok(file)
    })
    .await?
}

async fn download(name: &str, path: &str, local: &Path, recursive: bool) -> anyhow::Result<()> {
    check_remote_path(path)?;
    let api = Api::logged_in(&Home::from_env()?)?;
    let format = if recursive { "tar" } else { "file" };
    let url = format!(
        "/v1/sandboxes/{}/files?path={}&format={format}",
        segment(name)?,
        encode(path)
    );
    let resp = api.get_stream(&url).await?;
    if recursive {
        let tmp = tempfile::NamedTempFile::new()?;
        let bytes = save(resp, tmp.path()).await?;
        let dest = local.to_path_buf();
        let src = tmp.path().to_path_buf();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            std::fs::create_dir_all(&dest)?;
            // `unpack` refuses entries that would land outside `dest`.
            tar::Archive::new(std::fs::File::open(src)?).unpack(&dest)?;
            Ok(())
        })
        .await??;
        output::say(format!(
            "Copied {name}:{path} to {} ({bytes} bytes)",
            local.display()
        ));
        return Ok(());
    }
    let target = if local.is_dir() {
        local.join(Path::new(path).file_name().unwrap_or_default())
    } else {
        local.to_path_buf()
    };
    let bytes = save(resp, &target).await?;
    output::say(format!(
        "Copied {name}:{path} to {} ({bytes} bytes)",
        target.display()
    ));
    Ok(())
}

async fn save(resp: reqwest::Response, to: &Path) -> anyhow::Result<u64> {
    let mut file = tokio::fs::File::create(to)
        .await
        .with_context(|| format!("cannot write {}", to.display()))?;
    let mut body = resp.bytes_stream();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(n)
}
