//! git over HTTPS through the proxy, from a local `git http-backend`
//! registered as a service: clone allowed, push denied by policy.

use std::path::Path;
use std::process::Stdio;

use airlock_proxy::{HttpService, ProxyRequest, Upstream};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::util::{World, run, script};

async fn git(args: &[&str], dir: &Path, env: &[(&str, String)]) {
    let out = run("git", args, env, Some(dir)).await;
    assert_eq!(out.code, 0, "git {args:?}: {out:#?}");
}

/// A bare repository with one commit, served by git http-backend.
async fn git_server(root: &Path) -> (Child, u16) {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let id = [
        ("GIT_AUTHOR_NAME", "t".into()),
        ("GIT_AUTHOR_EMAIL", "t@t".into()),
        ("GIT_COMMITTER_NAME", "t".into()),
        ("GIT_COMMITTER_EMAIL", "t@t".into()),
    ];
    git(&["init", "-q", "-b", "main"], &work, &[]).await;
    std::fs::write(work.join("README"), "through the airlock\n").unwrap();
    git(&["add", "README"], &work, &[]).await;
    git(&["commit", "-q", "-m", "first"], &work, &id).await;
    git(
        &["clone", "-q", "--bare", "work", "repos/demo.git"],
        root,
        &[],
    )
    .await;
    // Anonymous push allowed upstream: the only thing refusing it is policy.
    git(
        &[
            "config",
            "-f",
            "repos/demo.git/config",
            "http.receivepack",
            "true",
        ],
        root,
        &[],
    )
    .await;
    let cgi = root.join("cgi/cgi-bin");
    std::fs::create_dir_all(&cgi).unwrap();
    let backend = cgi.join("git");
    std::fs::write(&backend, "#!/bin/sh\nexec git http-backend\n").unwrap();
    run("chmod", &["+x", backend.to_str().unwrap()], &[], None).await;
    let mut child = Command::new("python3")
        .arg(script("git_server.py"))
        .arg(root.join("repos"))
        .arg(root.join("cgi"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    (child, line.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_clone_over_https_and_push_denied() {
    let w = World::start().await;
    let root = w.dir.path().join("git");
    let (_server, port) = git_server(&root).await;
    w.catalog.add_service(
        "git.test",
        443,
        HttpService {
            name: "git".into(),
            upstream: Upstream::parse(&format!("http://127.0.0.1:{port}/cgi-bin/git")).unwrap(),
            inject_headers: vec![],
            upstream_ca_pem: None,
        },
    );
    w.decider.permit("allow-git-fetch", |r| {
        matches!(r, ProxyRequest::Http { service: Some(s), method, path, .. }
        if s == "git" && (method == "GET" || path.ends_with("/git-upload-pack")))
    });
    let env = [
        ("HTTPS_PROXY", w.proxy_url()),
        ("GIT_SSL_CAINFO", w.ca_file.to_string_lossy().into_owned()),
        ("GIT_TERMINAL_PROMPT", "0".into()),
        ("HOME", root.to_string_lossy().into_owned()),
    ];
    git(
        &["clone", "-q", "https://git.test/demo.git", "clone"],
        &root,
        &env,
    )
    .await;
    let readme = std::fs::read_to_string(root.join("clone/README")).unwrap();
    assert_eq!(readme, "through the airlock\n");

    let clone = root.join("clone");
    std::fs::write(clone.join("new"), "x").unwrap();
    git(&["add", "new"], &clone, &env).await;
    git(
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "second",
        ],
        &clone,
        &env,
    )
    .await;
    let push = run("git", &["push", "-q", "origin", "main"], &env, Some(&clone)).await;
    assert_ne!(push.code, 0, "push must be denied: {push:#?}");
    assert!(push.stderr.contains("403"), "{push:#?}");
    let events = w.events(3).await;
    assert!(
        events
            .iter()
            .any(|e| e.target.path.ends_with("/git-upload-pack") && e.status == 200)
    );
    let denied = events.last().unwrap();
    assert!(
        denied.target.path.ends_with("/info/refs")
            || denied.target.path.ends_with("/git-receive-pack"),
        "{denied:?}"
    );
    assert!(
        denied.decision.policies.is_empty() && denied.status == 403,
        "{denied:?}"
    );
}
