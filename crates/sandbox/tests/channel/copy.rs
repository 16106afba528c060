//! Copies in and out: single files, directory trees, refusals.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use airlock_sandbox::channel::{CopyFormat, User};

use crate::fixture::{AGENT, Sandbox};

#[tokio::test]
async fn a_file_goes_in_and_comes_back_out() {
    let sb = Sandbox::start().await;
    let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let dest = sb.p("workspace/data.bin");
    let n = sb
        .conn
        .copy_in(
            &dest,
            CopyFormat::File,
            Some(0o640),
            User::Agent,
            data.as_slice(),
        )
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    let meta = std::fs::metadata(&dest).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o777),
        (AGENT, 0o640)
    );
    let mut back = Vec::new();
    sb.conn
        .copy_out(&dest, CopyFormat::File, User::Agent, &mut back)
        .await
        .unwrap();
    assert_eq!(back, data);
}

#[tokio::test]
async fn a_directory_tree_round_trips_as_tar() {
    let sb = Sandbox::start().await;
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("a/b/c")).unwrap();
    std::fs::write(src.path().join("a/b/c/deep.txt"), "deep").unwrap();
    std::fs::write(src.path().join("top.txt"), "top").unwrap();
    std::os::unix::fs::symlink("top.txt", src.path().join("link")).unwrap();
    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(false);
    archive.append_dir_all(".", src.path()).unwrap();
    let archive = archive.into_inner().unwrap();

    let dest = sb.p("workspace/tree");
    sb.conn
        .copy_in(
            &dest,
            CopyFormat::Tar,
            None,
            User::Agent,
            archive.as_slice(),
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(sb.path("workspace/tree/a/b/c/deep.txt")).unwrap(),
        "deep"
    );
    let owner = std::fs::metadata(sb.path("workspace/tree/a/b"))
        .unwrap()
        .uid();
    assert_eq!(owner, AGENT, "written with the agent's identity");

    let mut out = Vec::new();
    sb.conn
        .copy_out(&dest, CopyFormat::Tar, User::Agent, &mut out)
        .await
        .unwrap();
    let back = tempfile::tempdir().unwrap();
    tar::Archive::new(out.as_slice())
        .unpack(back.path())
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(back.path().join("a/b/c/deep.txt")).unwrap(),
        "deep"
    );
    assert_eq!(
        std::fs::read_to_string(back.path().join("top.txt")).unwrap(),
        "top"
    );
    let link = std::fs::read_link(back.path().join("link")).unwrap();
    assert_eq!(
        link.to_str(),
        Some("top.txt"),
        "symlinks are copied, not followed"
    );
}

#[tokio::test]
async fn dot_dot_paths_are_refused_both_ways() {
    let sb = Sandbox::start().await;
    let sneaky = format!("{}/../escape", sb.p("workspace"));
    let err = sb
        .conn
        .copy_in(&sneaky, CopyFormat::File, None, User::Root, &b"x"[..])
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
    assert!(!sb.path("escape").exists());
    let err = sb
        .conn
        .copy_out(&sneaky, CopyFormat::File, User::Root, Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
}

#[tokio::test]
async fn agent_copies_have_agent_permissions_only() {
    let sb = Sandbox::start().await;
    let secret = sb.path("root-only");
    std::fs::write(&secret, "secret").unwrap();
    std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o600)).unwrap();
    // The agent plants a symlink; copying "into the workspace" must not
    // follow it into a root-owned file.
    std::os::unix::fs::symlink(&secret, sb.path("workspace/planted")).unwrap();
    let err = sb
        .conn
        .copy_in(
            &sb.p("workspace/planted"),
            CopyFormat::File,
            None,
            User::Agent,
            &b"pwned"[..],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ermission denied"), "{err}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret");
    let err = sb
        .conn
        .copy_out(
            &sb.p("root-only"),
            CopyFormat::File,
            User::Agent,
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ermission denied"), "{err}");
    let mut root_read = Vec::new();
    sb.conn
        .copy_out(
            &sb.p("root-only"),
            CopyFormat::File,
            User::Root,
            &mut root_read,
        )
        .await
        .unwrap();
    assert_eq!(root_read, b"secret");
}

#[tokio::test]
async fn copying_a_directory_as_a_file_says_what_to_do() {
    let sb = Sandbox::start().await;
    let err = sb
        .conn
        .copy_out(
            &sb.p("workspace"),
            CopyFormat::File,
            User::Agent,
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("recursively"), "{err}");
}

#[tokio::test]
async fn a_refused_large_copy_answers_instead_of_stalling() {
    let sb = Sandbox::start().await;
    // Far more than the credit window: init refuses at once and stops
    // reading; the host must see the refusal, not wait for credit forever.
    let big = vec![0u8; 16 * 1024 * 1024];
    let copy = sb.conn.copy_in(
        "/proc/nope/x",
        CopyFormat::File,
        None,
        User::Agent,
        big.as_slice(),
    );
    let err = tokio::time::timeout(std::time::Duration::from_secs(10), copy)
        .await
        .expect("an answer, not a stall")
        .unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
}
