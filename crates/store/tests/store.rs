//! The SQLite store keeps what it is given, refuses duplicates and survives
//! a reopen.

use std::collections::BTreeMap;

use airlock_core::{RoleName, SessionId, UserName};
use airlock_store::{Lock, LockTarget, RoleRecord, SqliteStore, Store, StoreError, UserRecord};
use time::{Duration, OffsetDateTime};

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        name: UserName::new(name).unwrap(),
        roles: vec![RoleName::new("developer").unwrap()],
        traits: BTreeMap::from([("team".into(), vec!["infra".into()])]),
        password_hash: "$argon2id$fake".into(),
        created: t0(),
    }
}

#[test]
fn users_round_trip_and_duplicates_are_refused() {
    let s = SqliteStore::in_memory().unwrap();
    s.add_user(&user("alice")).unwrap();
    s.add_user(&user("bob")).unwrap();
    let err = s.add_user(&user("alice")).unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists { kind: "user", .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), "user \"alice\" already exists");

    let alice = UserName::new("alice").unwrap();
    assert_eq!(s.user(&alice).unwrap().unwrap(), user("alice"));
    let names: Vec<_> = s.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names.len(), 2);

    s.remove_user(&alice).unwrap();
    assert!(s.user(&alice).unwrap().is_none());
    assert!(matches!(
        s.remove_user(&alice).unwrap_err(),
        StoreError::NotFound { .. }
    ));
}

#[test]
fn roles_upsert() {
    let s = SqliteStore::in_memory().unwrap();
    let mut role = RoleRecord {
        name: RoleName::new("admin").unwrap(),
        description: "everything".into(),
        max_ttl_secs: 8 * 3600,
        max_sandbox_ttl_secs: 4 * 3600,
    };
    s.put_role(&role).unwrap();
    role.max_ttl_secs = 3600;
    s.put_role(&role).unwrap();
    assert_eq!(s.roles().unwrap(), vec![role.clone()]);
    assert_eq!(s.role(&role.name).unwrap(), Some(role));
}

#[test]
fn locks_round_trip() {
    let s = SqliteStore::in_memory().unwrap();
    let lock = Lock {
        id: "lk-1".into(),
        target: LockTarget::Session(SessionId::from_random([7; 16])),
        reason: Some("laptop stolen".into()),
        created_by: "admin".into(),
        created: t0(),
        expires: Some(t0() + Duration::hours(1)),
    };
    s.add_lock(&lock).unwrap();
    assert!(s.add_lock(&lock).is_err());
    assert_eq!(s.locks().unwrap(), vec![lock.clone()]);
    assert!(lock.is_active(t0()));
    assert!(!lock.is_active(t0() + Duration::hours(2)));
    s.remove_lock("lk-1").unwrap();
    assert!(s.locks().unwrap().is_empty());
}

#[test]
fn open_refuses_a_missing_file_and_reopens_an_existing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    assert!(SqliteStore::open(&path).is_err(), "open must not create");
    {
        let s = SqliteStore::create(&path).unwrap();
        s.set_meta("trust_domain", "airlock.test").unwrap();
        s.add_user(&user("carol")).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        s.meta("trust_domain").unwrap().as_deref(),
        Some("airlock.test")
    );
    assert_eq!(s.users().unwrap().len(), 1);
}

fn sandbox(id: &str, name: &str, owner: &str, expires_in: i64) -> airlock_store::SandboxRecord {
    airlock_store::SandboxRecord {
        id: airlock_core::SandboxId::new(id).unwrap(),
        name: airlock_core::SandboxName::new(name).unwrap(),
        owner: UserName::new(owner).unwrap(),
        backend: airlock_core::IsolationClass::Gvisor,
        image: "host".into(),
        profile: None,
        limits: airlock_store::SandboxLimits {
            cpus: 1.5,
            memory: 1 << 30,
            disk: 2 << 30,
            pids: 256,
        },
        state: airlock_store::SandboxState::Running,
        created: t0(),
        expires: t0() + Duration::seconds(expires_in),
        ended: None,
    }
}

#[test]
fn sandboxes_names_are_unique_among_the_owners_live_ones() {
    use airlock_store::SandboxState;
    let s = SqliteStore::in_memory().unwrap();
    s.add_sandbox(&sandbox("sb-1", "dev", "alice", 60)).unwrap();
    s.add_sandbox(&sandbox("sb-2", "dev", "bob", 30)).unwrap();
    let dup = s
        .add_sandbox(&sandbox("sb-3", "dev", "alice", 60))
        .unwrap_err();
    assert!(
        matches!(
            dup,
            StoreError::AlreadyExists {
                kind: "sandbox",
                ..
            }
        ),
        "{dup}"
    );

    let alice = UserName::new("alice").unwrap();
    let name = airlock_core::SandboxName::new("dev").unwrap();
    let live = s.live_sandbox_named(&alice, &name).unwrap().unwrap();
    assert_eq!(live, sandbox("sb-1", "dev", "alice", 60));
    assert_eq!(s.next_expiry().unwrap(), Some(t0() + Duration::seconds(30)));

    let id1 = airlock_core::SandboxId::new("sb-1").unwrap();
    s.set_sandbox_state(&id1, SandboxState::Removed, t0() + Duration::seconds(5))
        .unwrap();
    assert!(s.live_sandbox_named(&alice, &name).unwrap().is_none());
    // The name is free again once the first one ended.
    s.add_sandbox(&sandbox("sb-3", "dev", "alice", 90)).unwrap();
    let ended = s.sandbox(&id1).unwrap().unwrap();
    assert_eq!(ended.state, SandboxState::Removed);
    assert_eq!(ended.ended, Some(t0() + Duration::seconds(5)));

    assert_eq!(s.sandboxes(Some(&alice), true).unwrap().len(), 1);
    assert_eq!(s.sandboxes(Some(&alice), false).unwrap().len(), 2);
    assert_eq!(s.sandboxes(None, true).unwrap().len(), 2);
}

#[test]
fn policy_files_profiles_secrets_and_resources_round_trip() {
    use airlock_store::{PolicyFile, ResourceRecord, SecretRecord};
    let s = SqliteStore::in_memory().unwrap();
    assert!(s.policy_files().unwrap().is_empty());
    let files = vec![
        PolicyFile {
            name: "a.cedar".into(),
            kind: "policy".into(),
            text: "permit(principal, action, resource);".into(),
        },
        PolicyFile {
            name: "a.examples.toml".into(),
            kind: "examples".into(),
            text: "".into(),
        },
    ];
    s.replace_policy_files(&files).unwrap();
    assert_eq!(s.policy_files().unwrap().len(), 2);
    s.replace_policy_files(&files[..1]).unwrap();
    assert_eq!(s.policy_files().unwrap(), files[..1].to_vec());

    s.put_profile("read-only", "forbid(principal, action, resource);")
        .unwrap();
    assert_eq!(s.profiles().unwrap().len(), 1);
    s.remove_profile("read-only").unwrap();
    assert!(s.remove_profile("read-only").is_err());

    let secret = SecretRecord {
        name: "k".into(),
        nonce: vec![1; 12],
        ciphertext: vec![2; 40],
        updated: t0(),
    };
    s.put_secret(&secret).unwrap();
    assert_eq!(s.secrets().unwrap(), vec![secret.clone()]);
    assert!(
        !format!("{secret:?}").contains("ciphertext: ["),
        "debug does not dump ciphertext"
    );

    let r = ResourceRecord {
        name: "gh".into(),
        kind: "http".into(),
        spec: serde_json::json!({"url": "https://api.github.com"}),
        created: t0(),
    };
    s.add_resource(&r).unwrap();
    assert!(matches!(
        s.add_resource(&r).unwrap_err(),
        StoreError::AlreadyExists { .. }
    ));
    assert_eq!(s.resources().unwrap(), vec![r]);
    s.remove_resource("gh").unwrap();
}

#[test]
fn the_cache_answers_lookups_and_forgets_what_a_write_changes() {
    use airlock_store::{CachedStore, SandboxState};
    let s = CachedStore::new(SqliteStore::in_memory().unwrap());
    let bob = UserName::new("bob").unwrap();
    // A miss is remembered as a miss, until the user is added.
    assert!(s.user(&bob).unwrap().is_none());
    s.add_user(&user("bob")).unwrap();
    assert_eq!(s.user(&bob).unwrap().unwrap().name, bob);
    s.remove_user(&bob).unwrap();
    assert!(
        s.user(&bob).unwrap().is_none(),
        "a removed user is gone at once"
    );

    let sb = sandbox("sb-0000000000000001", "one", "bob", 3600);
    assert!(s.sandbox(&sb.id).unwrap().is_none());
    s.add_sandbox(&sb).unwrap();
    assert_eq!(s.sandbox(&sb.id).unwrap().unwrap().state, sb.state);
    s.set_sandbox_state(&sb.id, SandboxState::Removed, t0())
        .unwrap();
    assert_eq!(
        s.sandbox(&sb.id).unwrap().unwrap().state,
        SandboxState::Removed,
        "an ended sandbox is seen ended at once"
    );
    // A failed write changes nothing and still leaves the cache truthful.
    assert!(s.remove_user(&bob).is_err());
    assert!(s.user(&bob).unwrap().is_none());
}
