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
            unpack_untrusted(std::fs::File::open(src)?, &dest)
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

/// Unpacks a tar stream made inside a sandbox into `dest`, on the user's
/// own machine. The sandbox controls every byte of it, so: only files,
/// directories and symbolic links (no hard links, devices or FIFOs); no
/// absolute or `..` paths; nothing written through a link that leads out of
/// `dest` (`unpack_in` checks each parent); no set-id bits, owners or
/// extended attributes carried over.
fn unpack_untrusted(archive: impl std::io::Read, dest: &Path) -> anyhow::Result<()> {
    use std::path::Component;
    use tar::EntryType;
    let mut archive = tar::Archive::new(archive);
    archive.set_preserve_permissions(false);
    archive.set_preserve_ownerships(false);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let kind = entry.header().entry_type();
        if !matches!(
            kind,
            EntryType::Regular | EntryType::Directory | EntryType::Symlink
        ) {
            anyhow::bail!(
                "the sandbox sent {} as a {kind:?}, which cp does not unpack; nothing after it was copied",
                path.display()
            );
        }
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            anyhow::bail!(
                "the sandbox sent a path that leaves the destination ({}); nothing after it was copied",
                path.display()
            );
        }
        let inside = entry.unpack_in(dest).with_context(|| {
            format!(
                "the sandbox sent {}, which cannot be unpacked here; nothing after it was copied",
                path.display()
            )
        })?;
        if !inside {
            anyhow::bail!(
                "the sandbox sent {} through a link that leaves the destination; nothing after it was copied",
                path.display()
            );
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar entry with any name, type and link target, written byte by byte
    /// as a hostile archiver would (tar's own setters refuse `..`).
    fn entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o4755);
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }

    /// Name, type, link target, contents.
    type Entry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

    fn unpack(entries: &[Entry<'_>]) -> (tempfile::TempDir, anyhow::Result<()>) {
        let mut tar = Vec::new();
        for (name, kind, link, data) in entries {
            entry(&mut tar, name, *kind, link, data);
        }
        tar.extend_from_slice(&[0; 1024]);
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let res = unpack_untrusted(&tar[..], &dest);
        (root, res)
    }

    use tar::EntryType::{Block, Char, Directory, Fifo, Link, Regular, Symlink};

    #[test]
    fn an_ordinary_tree_unpacks_without_set_id_bits() {
        let (root, res) = unpack(&[
            ("d/", Directory, "", b""),
            ("d/f", Regular, "", b"hello"),
            ("d/l", Symlink, "f", b""),
            ("abs", Symlink, "/usr/bin/python3", b""),
        ]);
        res.unwrap();
        let d = root.path().join("dest/d");
        assert_eq!(std::fs::read(d.join("l")).unwrap(), b"hello");
        let mode = std::fs::metadata(d.join("f")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7000, 0, "set-id bits kept: {mode:o}");
    }

    #[test]
    fn hostile_entries_write_nothing_outside_the_destination() {
        let cases: [&[Entry<'_>]; 7] = [
            &[("../escaped", Regular, "", b"x")],
            &[("/tmp/airlock-cp-absolute", Regular, "", b"x")],
            &[
                ("up", Symlink, "..", b""),
                ("up/escaped", Regular, "", b"x"),
            ],
            &[("hl", Link, "../outside", b"")],
            &[("dev", Char, "", b"")],
            &[("blk", Block, "", b"")],
            &[("fifo", Fifo, "", b"")],
        ];
        for case in cases {
            let (root, res) = unpack(case);
            let err = res.expect_err(&format!("{case:?} was accepted"));
            assert!(format!("{err:#}").contains("the sandbox sent"), "{err:#}");
            let outside: Vec<_> = std::fs::read_dir(root.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(outside, ["dest"], "{case:?} wrote next to the destination");
        }
        assert!(!Path::new("/tmp/airlock-cp-absolute").exists());
    }
}
