//! docs/policy.md stays true: its Cedar blocks load (the cookbook as one
//! policy set, the read-only profile as a profile) and its examples file
//! passes against them.

use airlock_policy::{Engine, PolicySet, Profile};

const DOC: &str = include_str!("../../../../docs/policy.md");

/// The bodies of the doc's fenced blocks of `lang`.
fn blocks(lang: &str) -> Vec<&'static str> {
    let fence = format!("```{lang}\n");
    DOC.split(fence.as_str())
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect()
}

#[test]
fn cookbook_loads_and_examples_pass() {
    let cedar = blocks("cedar");
    assert!(cedar.len() >= 6, "found {} cedar blocks", cedar.len());
    let (profiles, policies): (Vec<&str>, Vec<&str>) =
        cedar.iter().partition(|b| b.contains("read-only-http"));
    let files: Vec<(String, &str)> = policies
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("cookbook{i}.cedar"), *text))
        .collect();
    let set = PolicySet::load(&files).unwrap_or_else(|e| panic!("{e}"));
    let profile = Profile::load("read-only", &[("read-only.cedar", profiles[0])])
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(set).with_profile(profile);
    let toml = blocks("toml");
    assert_eq!(toml.len(), 1);
    assert_eq!(engine.check_examples("doc.toml", toml[0]).unwrap(), 2);
}
