//! Locks refuse a subject within a second, whatever certificates it holds.

use std::time::{Duration, Instant};

use crate::util::*;

/// Polls `f` until it returns true or `limit` passes; returns the time taken.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("condition not met within {limit:?}");
}

#[test]
fn locking_a_user_refuses_them_within_a_second_and_unlocking_restores() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "mallory", "developer", "mallory-password");
    let m = cluster.client("mallory");
    m.login("mallory", "mallory-password").ok();
    m.run(&["whoami"]).ok();

    let out = admin.run(&[
        "admin",
        "lock",
        "add",
        "--user",
        "mallory",
        "--reason",
        "token leaked",
    ]);
    out.ok();
    let locked_at = Instant::now();
    let refused = m.run(&["whoami"]);
    refused.fails(4, "user mallory is locked (token leaked)");
    assert!(locked_at.elapsed() < Duration::from_secs(1));

    // A fresh login is refused too.
    m.login("mallory", "mallory-password").fails(4, "locked");

    let locks: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "lock", "ls", "--json"]).ok()).unwrap();
    let id = locks[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(locks[0]["kind"], "user");
    admin.run(&["admin", "lock", "rm", &id]).ok();
    within(Duration::from_secs(1), || m.run(&["whoami"]).code == 0);
    admin
        .run(&["admin", "lock", "rm", &id])
        .fails(5, "does not exist");
}

#[test]
fn locking_a_session_refuses_only_that_login() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "sam", "developer", "sam-password");
    let laptop = cluster.client("laptop");
    laptop.login("sam", "sam-password").ok();
    let desktop = cluster.client("desktop");
    desktop.login("sam", "sam-password").ok();
    let who: serde_json::Value =
        serde_json::from_str(laptop.run(&["whoami", "--json"]).ok()).unwrap();
    let session = who["session"].as_str().unwrap();

    admin
        .run(&[
            "admin",
            "lock",
            "add",
            "--session",
            session,
            "--reason",
            "laptop stolen",
        ])
        .ok();
    laptop.run(&["whoami"]).fails(4, "laptop stolen");
    desktop.run(&["whoami"]).ok();
}

#[test]
fn a_lock_with_a_ttl_lapses_by_itself() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "tim", "developer", "tim-password");
    let tim = cluster.client("tim");
    tim.login("tim", "tim-password").ok();
    admin
        .run(&["admin", "lock", "add", "--user", "tim", "--ttl", "2s"])
        .ok();
    tim.run(&["whoami"]).fails(4, "locked");
    within(Duration::from_secs(4), || tim.run(&["whoami"]).code == 0);
    let all: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "lock", "ls", "--all", "--json"]).ok()).unwrap();
    assert_eq!(all[0]["active"], false);
    let active: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "lock", "ls", "--json"]).ok()).unwrap();
    assert_eq!(active, serde_json::json!([]));
}

#[test]
fn an_admin_cannot_lock_themself_out() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    admin
        .run(&["admin", "lock", "add", "--user", ADMIN])
        .fails(6, "cannot lock yourself out");
}
