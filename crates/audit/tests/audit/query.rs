//! Search, tail, parameter parsing and export.

use airlock_audit::merkle::leaf_hash;
use airlock_audit::{ActionFilter, AuditLog, Order, Query, QueryError, QueryParams};
use airlock_core::Effect;
use serde_json::Value;

use crate::util::{T0, TestLog, append_range, sandbox, user};

fn log200() -> (TestLog, AuditLog) {
    let t = TestLog::new();
    let log = t.open();
    append_range(&log, 0, 200);
    (t, log)
}

fn seqs(log: &AuditLog, q: &Query) -> Vec<u64> {
    log.search_blocking(q)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

/// What a brute-force filter over the generated events returns, newest first.
fn expected(f: impl Fn(usize) -> bool, limit: usize) -> Vec<u64> {
    (0..200)
        .rev()
        .filter(|&i| f(i))
        .take(limit)
        .map(|i| i as u64)
        .collect()
}

#[test]
fn search_filters_match_a_brute_force_scan() {
    let (_t, log) = log200();
    filters_match_a_brute_force_scan(&log);
}

/// The same searches once the rows are in the index file (written when the
/// log closes) instead of in memory: posting lists for users and sandboxes,
/// SQL for the rest.
#[test]
fn search_filters_match_a_brute_force_scan_in_the_written_index() {
    let (t, log) = log200();
    drop(log);
    let log = t.open();
    filters_match_a_brute_force_scan(&log);
    let both = Query {
        user: Some(user(3)),
        sandbox: Some(sandbox(1)),
        order: Order::OldestFirst,
        limit: 1000,
        ..Query::default()
    };
    let want: Vec<u64> = (0..200u64)
        .filter(|&i| i % 5 != 4 && i % 7 == 3 && matches!(i % 5, 1..=3) && i % 3 == 1)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(seqs(&log, &both), want);
    let paged = Query {
        user: Some(user(3)),
        before_seq: Some(100),
        after_seq: Some(20),
        limit: 3,
        ..Query::default()
    };
    let want: Vec<u64> = (21..100u64)
        .rev()
        .filter(|&i| i % 5 != 4 && i % 7 == 3)
        .take(3)
        .collect();
    assert_eq!(seqs(&log, &paged), want);
    let window = Query {
        order: Order::OldestFirst,
        limit: 1000,
        ..paged
    };
    let want: Vec<u64> = (21..100u64).filter(|&i| i % 5 != 4 && i % 7 == 3).collect();
    assert_eq!(seqs(&log, &window), want);
}

fn filters_match_a_brute_force_scan(log: &AuditLog) {
    let base = Query {
        limit: 1000,
        ..Query::default()
    };
    let u3 = Query {
        user: Some(user(3)),
        ..base.clone()
    };
    let is_u3 = |i: usize| i % 5 != 4 && i % 7 == 3;
    assert_eq!(seqs(log, &u3), expected(is_u3, 1000));
    let sb = Query {
        sandbox: Some(sandbox(1)),
        ..base.clone()
    };
    assert_eq!(
        seqs(log, &sb),
        expected(|i| matches!(i % 5, 1..=3) && i % 3 == 1, 1000)
    );
    let deny = Query {
        decision: Some(Effect::Deny),
        ..base.clone()
    };
    let is_deny = |i: usize| matches!(i % 5, 3 | 4) || (i % 5 == 1 && i.is_multiple_of(3));
    assert_eq!(seqs(log, &deny), expected(is_deny, 1000));
    let prefix = Query {
        action: Some(ActionFilter::Prefix("sandbox.".into())),
        ..base.clone()
    };
    assert_eq!(
        seqs(log, &prefix),
        expected(|i| matches!(i % 5, 2 | 3), 1000)
    );
    let exact = Query {
        action: Some(ActionFilter::Exact("admin.user.add".into())),
        ..base.clone()
    };
    assert_eq!(seqs(log, &exact), expected(|i| i % 5 == 4, 1000));
    let both = Query {
        user: Some(user(3)),
        decision: Some(Effect::Deny),
        limit: 5,
        ..base
    };
    assert_eq!(seqs(log, &both), expected(|i| is_u3(i) && is_deny(i), 5));
}

#[test]
fn time_paging_and_order() {
    let (_t, log) = log200();
    let secs = |s: i64| T0 + time::Duration::seconds(s);
    let window = Query {
        since: Some(secs(10)),
        until: Some(secs(20)),
        ..Query::default()
    };
    assert_eq!(seqs(&log, &window), (10..20).rev().collect::<Vec<_>>());
    let page = Query {
        before_seq: Some(50),
        limit: 3,
        ..Query::default()
    };
    assert_eq!(seqs(&log, &page), vec![49, 48, 47]);
    let oldest = Query {
        after_seq: Some(195),
        order: Order::OldestFirst,
        ..Query::default()
    };
    assert_eq!(seqs(&log, &oldest), vec![196, 197, 198, 199]);
    assert_eq!(seqs(&log, &Query::default()).len(), 100, "default limit");
    assert_eq!(log.tail_blocking(None, 2).unwrap().len(), 2);
}

fn params(pairs: &[(&str, &str)]) -> Result<QueryParams, serde_json::Error> {
    let map: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    serde_json::from_value(Value::Object(map))
}

fn parse(pairs: &[(&str, &str)]) -> Result<Query, QueryError> {
    params(pairs).unwrap().parse(T0)
}

#[test]
fn search_params_parse() {
    let q = parse(&[
        ("user", "alice"),
        ("sandbox", "sb-1"),
        ("action", "sandbox.*"),
        ("decision", "deny"),
        ("since", "1h"),
        ("until", "2025-01-01T00:00:00Z"),
        ("limit", "20"),
        ("after", "ev-7"),
        ("order", "oldest"),
    ])
    .unwrap();
    assert_eq!(q.action, Some(ActionFilter::Prefix("sandbox.".into())));
    assert_eq!(q.since, Some(T0 - time::Duration::hours(1)));
    assert_eq!(
        (q.limit, q.after_seq, q.order),
        (20, Some(7), Order::OldestFirst)
    );
    assert_eq!(
        parse(&[("user", " ")]).unwrap(),
        Query::default(),
        "blank = absent"
    );
}

#[test]
fn malformed_search_params_get_clear_errors() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("user", "Alice!")],
            "invalid --user \"Alice!\": use 1-64 characters",
        ),
        (&[("sandbox", "../x")], "invalid --sandbox"),
        (
            &[("action", "Sandbox.*")],
            "invalid --action \"Sandbox.*\": use an action such as",
        ),
        (
            &[("decision", "maybe")],
            "invalid --decision \"maybe\": use allow or deny",
        ),
        (
            &[("since", "yesterday")],
            "invalid --since \"yesterday\": use a duration ago",
        ),
        (&[("until", "2025-13-01")], "invalid --until"),
        (
            &[("limit", "0")],
            "invalid --limit \"0\": use a number from 1 to 10000",
        ),
        (&[("limit", "many")], "invalid --limit"),
        (&[("limit", "100000")], "invalid --limit"),
        (
            &[("after", "ev-x")],
            "invalid --after \"ev-x\": use an event id",
        ),
        (&[("order", "random")], "invalid --order"),
        (
            &[("since", "1h"), ("until", "2h")],
            "--since must be earlier than --until",
        ),
    ];
    for (pairs, want) in cases {
        let err = parse(pairs).unwrap_err().to_string();
        assert!(
            err.starts_with(want),
            "{pairs:?}: {err:?} should start with {want:?}"
        );
    }
    assert!(
        params(&[("usr", "alice")]).is_err(),
        "unknown parameters are refused"
    );
    let direct = Query {
        limit: 0,
        ..Query::default()
    };
    assert!(TestLog::new().open().search_blocking(&direct).is_err());
}

#[test]
fn jsonl_export_is_the_hashed_bytes() {
    let (_t, log) = log200();
    let mut out = Vec::new();
    assert_eq!(log.export_jsonl(&mut out, None).unwrap(), 200);
    let lines: Vec<&[u8]> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 200);
    for (i, line) in lines.iter().enumerate() {
        // Each exported line is exactly the stored, hashed entry.
        let stored = log.store().get(i as u64).unwrap().unwrap();
        assert_eq!(*line, &stored.body[..]);
        if i % 50 == 0 {
            let bundle = log.prove_blocking(&format!("ev-{i}")).unwrap();
            assert_eq!(hex::encode(leaf_hash(line)), bundle.leaf_hash);
        }
    }
    let mut recent = Vec::new();
    let since = T0 + time::Duration::seconds(190);
    assert_eq!(log.export_jsonl(&mut recent, Some(since)).unwrap(), 10);
}

#[test]
fn ocsf_export_maps_classes_and_actors() {
    let (_t, log) = log200();
    let mut out = Vec::new();
    log.export_ocsf(&mut out, None).unwrap();
    let events: Vec<Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(events.len(), 200);
    let login = &events[0];
    assert_eq!(login["class_uid"], 3002);
    assert_eq!(login["category_uid"], 3);
    assert_eq!(login["type_uid"], 300201);
    assert_eq!(login["status_id"], 1);
    assert_eq!(login["actor"]["user"]["name"], "user0");
    assert_eq!(login["src_endpoint"]["ip"], "10.1.2.3");
    assert_eq!(login["src_endpoint"]["port"], 5555);
    assert_eq!(login["metadata"]["product"]["name"], "Airlock");
    assert_eq!(login["time"], T0.unix_timestamp() * 1000);
    let http = &events[6]; // i % 5 == 1, even: GET, i.is_multiple_of(3): deny
    assert_eq!(http["class_uid"], 4002);
    assert_eq!(http["activity_id"], 3);
    assert_eq!(http["http_request"]["http_method"], "GET");
    assert_eq!(http["status_id"], 2);
    assert_eq!(http["status_detail"], "POST is not allowed");
    assert_eq!(http["actor"]["user"]["name"], "user6");
    assert_eq!(
        http["actor"]["app_uid"],
        "spiffe://airlock.test/sandbox/sb-0/workload"
    );
    assert_eq!(http["unmapped"]["sandbox"], "sb-0");
    let refused = &events[4];
    assert_eq!(refused["class_uid"], 6003);
    assert_eq!(refused["api"]["operation"], "admin.user.add");
}

#[test]
fn ocsf_datastore_activity_names_the_human_and_the_workload() {
    let t = TestLog::new();
    let log = t.open();
    let ev = airlock_audit::AuditEvent::new(airlock_audit::EventCode::DbConnect)
        .user(user(1))
        .workload(crate::util::workload(1))
        .sandbox(sandbox(1))
        .resource("db:orders")
        .detail("database", "orders")
        .detail("db_user", "app")
        .deny("policy db-read-only forbids db.connect as app")
        .at(T0);
    log.append_blocking(ev).unwrap();
    let mut out = Vec::new();
    log.export_ocsf(&mut out, None).unwrap();
    let e: Value = serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(e["class_uid"], 6005, "{e:#}");
    assert_eq!(e["category_uid"], 6);
    assert_eq!(e["activity_id"], 3);
    assert_eq!(e["type_uid"], 600503);
    assert_eq!(e["status_id"], 2);
    assert_eq!(e["actor"]["user"]["name"], "user1");
    assert_eq!(
        e["actor"]["app_uid"],
        "spiffe://airlock.test/sandbox/sb-1/workload"
    );
}

/// Event `i` with its time moved out of seq order (a permutation of the
/// first 200 seconds), as concurrent emitters can leave it.
fn shuffled(i: usize) -> airlock_audit::AuditEvent {
    let mut ev = crate::util::event(i).at(T0 + time::Duration::seconds(((i * 37) % 200) as i64));
    ev.seq = i as u64;
    ev
}

/// Index writes (spans) of 50 events each, times out of order: searches by
/// time, by action prefix (posting lists of several actions merged span by
/// span) and by user, in both orders and in windows, match a brute-force
/// filter of what was appended.
#[test]
fn searches_across_index_writes_match_a_brute_force_scan() {
    let t = TestLog::new();
    for chunk in 0..4 {
        let log = t.open();
        let evs = (chunk * 50..chunk * 50 + 50).map(shuffled).collect();
        log.append_many_blocking(evs).unwrap();
    }
    let log = t.open();
    let all: Vec<_> = (0..200).map(shuffled).collect();
    let secs = |s: i64| Some(T0 + time::Duration::seconds(s));
    let prefix = |p: &str| Some(ActionFilter::Prefix(p.into()));
    let queries = [
        Query {
            since: secs(150),
            ..Query::default()
        },
        Query {
            until: secs(30),
            ..Query::default()
        },
        Query {
            since: secs(40),
            until: secs(60),
            ..Query::default()
        },
        Query {
            since: secs(199),
            ..Query::default()
        },
        Query {
            since: secs(500),
            ..Query::default()
        },
        Query {
            action: prefix("sandbox."),
            ..Query::default()
        },
        Query {
            action: prefix("sandbox.e"),
            ..Query::default()
        },
        Query {
            action: prefix("a"),
            since: secs(100),
            ..Query::default()
        },
        Query {
            action: prefix("nothing."),
            ..Query::default()
        },
        Query {
            action: Some(ActionFilter::Exact("http.request".into())),
            until: secs(90),
            ..Query::default()
        },
        Query {
            user: Some(user(3)),
            since: secs(20),
            until: secs(170),
            ..Query::default()
        },
        Query {
            action: prefix("sandbox."),
            after_seq: Some(40),
            before_seq: Some(160),
            ..Query::default()
        },
    ];
    for q in queries {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            for limit in [1000, 7] {
                let q = Query {
                    order,
                    limit,
                    ..q.clone()
                };
                let mut want: Vec<u64> =
                    all.iter().filter(|e| q.matches(e)).map(|e| e.seq).collect();
                if order == Order::NewestFirst {
                    want.reverse();
                }
                want.truncate(limit as usize);
                assert_eq!(seqs(&log, &q), want, "{q:?}");
            }
        }
    }
}
