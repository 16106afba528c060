//! LLM endpoints from inside: the official OpenAI and Anthropic Python SDKs
//! and the claude CLI, configured by nothing but the sandbox's environment,
//! reach the local LLM upstream through the proxy, which injects the real
//! key, enforces model allow-lists and budgets, and records model and tokens.

use serde_json::{Value, json};

use super::world::*;
use crate::sandbox::BACKENDS;

#[test]
fn python_sdks_inside_call_llms_through_the_proxy_with_the_real_key_injected() {
    let w = World::new();
    for backend in BACKENDS {
        let name = format!("sdk-{backend}");
        let id = w.sandbox(&name, backend, &[]);
        let chat = w.python(&name, &["chat"]);
        assert_eq!(chat["chat"], "hello from gpt");
        assert_eq!(chat["chat_tokens"], 18);
        assert_eq!(chat["stream"], "hello stream");
        assert_eq!(chat["models"], json!(["gpt-4o-mini"]));
        let msgs = w.python(&name, &["messages"]);
        assert_eq!(msgs["text"], REPLY_MARKER);
        assert_eq!(msgs["tokens"], 22);
        assert_eq!(msgs["stream"], "hello stream");
        assert_eq!(msgs["stream_output_tokens"], 9);

        // A model outside the endpoint's allow-list is refused, and the SDK
        // shows the rule that refused it.
        let denied = w.python(&name, &["denied-models"]);
        for (sdk, model) in [("openai", "gpt-5-secret"), ("anthropic", "gpt-4o")] {
            let d = &denied[sdk];
            assert_eq!(d["status"], 403, "{d}");
            let msg = d["message"].as_str().unwrap();
            assert!(
                msg.contains("(policy \"airlock/model-allow-list\")") && msg.contains(model),
                "{msg}"
            );
        }

        // The upstream got the real key on every call (it answers 401
        // otherwise), and never the sandbox's.
        let llm = w.up.requests("llm");
        assert!(llm.iter().all(|r| r["credential_ok"] == true), "{llm:#?}");
        assert!(!serde_json::to_string(&llm).unwrap().contains(DUMMY_KEY));

        // Model and tokens on the record.
        let calls = w.audit(&["--sandbox", &id, "--action", "inference.call"]);
        let seen: Vec<(&str, &str, &Value, &Value, &Value)> = calls
            .iter()
            .rev()
            .map(|e| {
                let d = &e["details"];
                (
                    e["decision"].as_str().unwrap(),
                    d["operation"].as_str().unwrap(),
                    &d["model"],
                    &d["input_tokens"],
                    &d["output_tokens"],
                )
            })
            .collect();
        let (chat, models, msgs) = ("/v1/chat/completions", "/v1/models", "/v1/messages");
        let (n, haiku) = (&Value::Null, &json!("claude-haiku-4-5"));
        assert_eq!(
            seen,
            [
                ("allow", chat, &json!("gpt-4o-mini"), &json!(11), &json!(7)),
                ("allow", chat, &json!("gpt-4o-mini"), &json!(11), &json!(2)),
                ("allow", models, n, n, n),
                ("allow", msgs, haiku, &json!(13), &json!(9)),
                ("allow", msgs, haiku, &json!(13), &json!(9)),
                ("deny", chat, &json!("gpt-5-secret"), n, n),
                ("deny", msgs, &json!("gpt-4o"), n, n),
            ],
            "{calls:#?}"
        );
        for ev in &calls {
            let want = if ev["decision"] == "allow" {
                json!(["dev-llm"])
            } else {
                json!(["airlock/model-allow-list"])
            };
            assert_eq!(ev["policies"], want, "{ev:#}");
            assert_eq!(ev["isolation"], backend);
        }
        w.env.dev.run(&["sandbox", "rm", &name]).ok();
    }
}
#[test]
fn spent_budgets_refuse_the_next_call_naming_the_budget() {
    let w = World::new();
    let id = w.sandbox("budget", "runc", &[]);
    // "metered": one request per minute.
    let rpm = w.python("budget", &["repeat", "metered", "2"]);
    assert_eq!(rpm["calls"][0]["status"], 200, "{rpm}");
    assert_eq!(rpm["calls"][1]["status"], 429, "{rpm}");
    let msg = rpm["calls"][1]["message"].as_str().unwrap();
    assert!(
        msg.contains("(policy \"airlock/budget-requests-per-minute\")"),
        "{msg}"
    );
    // "tiny": 20 tokens a day; a call spends 18, so the third finds it spent.
    let tpd = w.python("budget", &["repeat", "tiny", "3"]);
    let statuses: Vec<&Value> = tpd["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["status"])
        .collect();
    assert_eq!(statuses, [&json!(200), &json!(200), &json!(403)], "{tpd}");
    let msg = tpd["calls"][2]["message"].as_str().unwrap();
    assert!(
        msg.contains("airlock/budget-tokens-per-day") && msg.contains("36 used"),
        "{msg}"
    );

    let denied = w.audit(&[
        "--sandbox",
        &id,
        "--action",
        "inference.call",
        "--decision",
        "deny",
    ]);
    let by = |resource: &str| -> Vec<&Value> {
        denied
            .iter()
            .filter(|e| e["resource"] == resource)
            .map(|e| &e["policies"])
            .collect()
    };
    assert_eq!(
        by("inference:metered"),
        [&json!(["airlock/budget-requests-per-minute"])]
    );
    assert_eq!(
        by("inference:tiny"),
        [&json!(["airlock/budget-tokens-per-day"])]
    );

    // A restart does not refill the day's tokens: the server re-spends
    // today's usage from the audit log before it serves the proxy again.
    let mut w = w;
    w.env.cluster.stop();
    w.env.cluster.spawn_server();
    let echo = w.api_url("http", "/echo");
    let start = std::time::Instant::now();
    while w.curl("budget", &[&echo]).status != 200 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "the way out did not come back"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let after = w.python("budget", &["repeat", "tiny", "1"]);
    assert_eq!(after["calls"][0]["status"], 403, "{after}");
    let msg = after["calls"][0]["message"].as_str().unwrap();
    assert!(msg.contains("36 used"), "{msg}");
}
#[test]
fn the_claude_cli_answers_through_the_proxy_in_print_mode() {
    let w = World::new();
    let id = w.sandbox("claude", "runc", &[]);
    // Only the sandbox's environment (ANTHROPIC_BASE_URL on the proxy, a
    // dummy key), plus what keeps the CLI from phoning home on its own.
    let out = w.env.exec(
        "claude",
        &[
            "env",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
            "DISABLE_AUTOUPDATER=1",
            "claude",
            "-p",
            "say hello",
            "--max-turns",
            "1",
        ],
    );
    let answer = out.ok();
    assert!(
        answer.contains("hello stream") || answer.contains(REPLY_MARKER),
        "{out:#?}"
    );
    let llm = w.up.requests("llm");
    let from_claude: Vec<&Value> = llm
        .iter()
        .filter(|r| {
            r["headers"]["user-agent"]
                .as_str()
                .is_some_and(|ua| ua.starts_with("claude-cli/"))
        })
        .collect();
    assert!(!from_claude.is_empty(), "{llm:#?}");
    assert!(
        from_claude.iter().all(|r| r["credential_ok"] == true),
        "{llm:#?}"
    );
    let calls = w.audit(&[
        "--sandbox",
        &id,
        "--action",
        "inference.call",
        "--decision",
        "allow",
    ]);
    assert!(
        calls.iter().any(|e| e["resource"] == "inference:anthropic"
            && e["details"]["model"]
                .as_str()
                .is_some_and(|m| m.starts_with("claude-"))
            && e["details"]["output_tokens"].is_u64()),
        "{calls:#?}"
    );
}
