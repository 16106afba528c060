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
        allow: vec!["*".into()],
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
