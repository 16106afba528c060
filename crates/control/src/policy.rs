//! The cluster's policy: the Cedar engine built from the stored policy set
//! (the starter set until an admin loads one) and the delegation profiles.
//!
//! The engine is immutable; a change builds a new one and swaps it in, so
//! a refused set never replaces the active one, and every check sees one
//! consistent set.

use std::sync::{Arc, RwLock};

use airlock_policy::{Engine, LoadError, PolicySet, Profile};
use airlock_store::{PolicyFile, Store};

/// The active engine.
#[derive(Debug)]
pub struct PolicyState {
    engine: RwLock<Arc<Engine>>,
}

/// Builds an engine from policy files (empty: the starter set) and profiles.
pub fn build(files: &[PolicyFile], profiles: &[(String, String)]) -> Result<Engine, LoadError> {
    let policies: Vec<(&str, &str)> = files
        .iter()
        .filter(|f| f.kind == "policy")
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    let examples: Vec<(&str, &str)> = files
        .iter()
        .filter(|f| f.kind == "examples")
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    let set = if policies.is_empty() {
        PolicySet::starter()
    } else {
        PolicySet::load_with_examples(&policies, &examples)?
    };
    let mut engine = Engine::new(set);
    for (name, text) in profiles {
        engine = engine.with_profile(Profile::load(name, &[(format!("{name}.cedar"), text)])?);
    }
    Ok(engine)
}

impl PolicyState {
    /// Loads what the store holds.
    pub fn load(store: &dyn Store) -> Result<Self, String> {
        let files = store.policy_files().map_err(|e| e.to_string())?;
        let profiles = store.profiles().map_err(|e| e.to_string())?;
        let engine = build(&files, &profiles).map_err(|e| describe(&e))?;
        Ok(Self {
            engine: RwLock::new(Arc::new(engine)),
        })
    }

    /// The engine in force now.
    pub fn engine(&self) -> Arc<Engine> {
        Arc::clone(&self.engine.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts a new engine in force (for the next check).
    pub fn replace(&self, engine: Engine) {
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(engine);
    }
}

/// A load error as one line: the count and every diagnostic.
pub fn describe(e: &LoadError) -> String {
    let diags = e.diagnostics();
    if diags.is_empty() {
        return e.to_string();
    }
    let all: Vec<String> = diags.iter().map(ToString::to_string).collect();
    format!("{e}: {}", all.join("; "))
}
