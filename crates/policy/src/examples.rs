//! Policy examples: a companion file of requests and the decision each must
//! get, checked when the policies load (the idea of codex's execpolicy
//! match/not-match examples). A set that breaks one of its examples is
//! refused like a set that does not parse.
//!
//! The format (TOML; a `.json` file holds the same structure as JSON):
//!
//! ```toml
//! [[tests]]
//! name = "developers may exec in their own sandbox"
//! expect = "allow"                      # or "deny"
//! policies = ["developer-own-sandboxes"] # optional: the deciding ids, exactly
//! [tests.request]
//! action = "sandbox.exec"
//! principal = { type = "user", name = "alice", roles = ["developer"] }
//! resource = { type = "sandbox", id = "sb-1", owner = "alice", isolation = "gvisor", image = "debian" }
//! context = { time = 1700000000 }
//! ```

use airlock_core::Effect;
use serde::Deserialize;

use crate::engine::Engine;
use crate::error::LoadError;
use crate::load::PolicySet;
use crate::request::Request;

/// A parsed examples file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesFile {
    #[serde(default)]
    tests: Vec<Example>,
}

/// One example.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    /// What it shows; defaults to its position.
    name: Option<String>,
    /// The request to decide.
    request: Request,
    /// The decision it must get.
    expect: Effect,
    /// If given, the deciding policy ids, exactly (order does not matter).
    policies: Option<Vec<String>>,
}

impl PolicySet {
    /// Loads the cluster policy set and checks it against examples files
    /// (`(file name, text)` pairs); refuses the set if any example fails.
    /// Workload examples see no delegation profile: to check those, build
    /// the engine and use [`Engine::check_examples`].
    pub fn load_with_examples(
        files: &[(impl AsRef<str>, impl AsRef<str>)],
        examples: &[(impl AsRef<str>, impl AsRef<str>)],
    ) -> Result<Self, LoadError> {
        let set = Self::load(files)?;
        let engine = Engine::new(set.clone());
        for (name, text) in examples {
            engine.check_examples(name.as_ref(), text.as_ref())?;
        }
        Ok(set)
    }
}

impl Engine {
    /// Checks every example of one examples file against this engine.
    /// Returns how many passed (all of them), or the first that failed.
    pub fn check_examples(&self, file: &str, text: &str) -> Result<usize, LoadError> {
        let parsed = parse(file, text)?;
        for (i, ex) in parsed.tests.iter().enumerate() {
            let name = ex.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
            self.check_one(file, &name, ex)?;
        }
        Ok(parsed.tests.len())
    }

    fn check_one(&self, file: &str, name: &str, ex: &Example) -> Result<(), LoadError> {
        let got = self.decide(&ex.request);
        let ids_ok = ex.policies.as_ref().is_none_or(|want| {
            let mut want = want.clone();
            want.sort();
            want == got.policies
        });
        if got.effect == ex.expect && ids_ok {
            return Ok(());
        }
        let expected = match &ex.policies {
            Some(ids) => format!("{} by [{}]", ex.expect, ids.join(", ")),
            None => ex.expect.to_string(),
        };
        Err(LoadError::ExampleFailed {
            file: file.to_owned(),
            name: name.to_owned(),
            expected,
            got: got.effect,
            reason: format!("{} [{}]", got.reason, got.policies.join(", ")),
        })
    }
}

fn parse(file: &str, text: &str) -> Result<ExamplesFile, LoadError> {
    let parsed = if file.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        toml::from_str(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|message| LoadError::ExamplesFile {
        file: file.to_owned(),
        message: message.trim_end().to_owned(),
    })
}
