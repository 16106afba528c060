//! Loading policy files into a validated [`PolicySet`] or delegation
//! [`Profile`]: parse each file, give every policy its id, validate the whole
//! set against the schema in strict mode, and build the index.
//!
//! Loading is all-or-nothing: any problem refuses the set with every
//! diagnostic found, so the caller keeps its previous set active.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Effect as CedarEffect, Policy, PolicyId, ValidationMode, ValidationWarning};

use crate::diagnostics::{self, Diagnostic, Place};
use crate::error::LoadError;
use crate::index::Index;
use crate::schema::{Kind, schemas};

/// Prefix of every profile policy's id, so a decision's policy list says
/// which ids came from a delegation profile.
pub(crate) const PROFILE_ID_PREFIX: &str = "profile:";

/// The starter policy set, shipped with Airlock (see docs/policy.md).
pub const STARTER_POLICIES: &str = include_str!("../cedar/starter.cedar");
/// Examples the starter set must satisfy.
pub const STARTER_EXAMPLES: &str = include_str!("../cedar/starter.examples.toml");

/// A validated set of policies, ready to decide. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PolicySet(pub(crate) Arc<Loaded>);

/// Where a policy came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    /// The file it was loaded from.
    pub file: String,
    /// Its first line in that file (1-based).
    pub line: usize,
}

/// The parsed, validated and indexed contents of a [`PolicySet`].
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The permits and the forbids apart: evaluating them separately lists
    /// every match, where one set reports only the deciding side.
    pub permits: cedar_policy::PolicySet,
    pub forbids: cedar_policy::PolicySet,
    pub index: Index,
    pub sources: HashMap<String, Source>,
    /// Permits carrying `@record_bodies("N")`: id -> byte cap.
    pub record_bodies: HashMap<String, usize>,
    pub files: Vec<(String, String)>,
    pub warnings: Vec<Diagnostic>,
}

impl PolicySet {
    /// Loads the cluster policy set from `(file name, Cedar text)` pairs.
    pub fn load(files: &[(impl AsRef<str>, impl AsRef<str>)]) -> Result<Self, LoadError> {
        load(Kind::User, files, "").map(Self)
    }

    /// The starter policy set (safe by default; see docs/policy.md).
    pub fn starter() -> Self {
        Self::load(&[("starter.cedar", STARTER_POLICIES)])
            .expect("the starter policy set is valid (a test loads it)")
    }

    /// A set with no policies: it denies everything.
    pub fn empty() -> Self {
        Self::load(&[] as &[(&str, &str)]).expect("an empty set is valid")
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.0.sources.len()
    }

    /// Whether the set holds no policy.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every policy id, sorted.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.0.sources.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// The body cap permit `id` asks for with `@record_bodies("N")`.
    pub fn record_bodies(&self, id: &str) -> Option<usize> {
        self.0.record_bodies.get(id).copied()
    }

    /// Where policy `id` was loaded from.
    pub fn source(&self, id: &str) -> Option<&Source> {
        self.0.sources.get(id)
    }

    /// The files the set was loaded from, as given (for `admin policy get`).
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.files.iter().map(|(n, t)| (n.as_str(), t.as_str()))
    }

    /// Validator warnings that did not refuse the set (e.g. a policy that
    /// can never apply).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.0.warnings
    }
}

/// A delegation profile: a named policy set over `Workload` principals that
/// narrows what a sandbox's workload may do.
#[derive(Debug, Clone)]
pub struct Profile {
    name: String,
    set: PolicySet,
}

impl Profile {
    /// Loads profile `name` from `(file name, Cedar text)` pairs. Policy ids
    /// are reported as `profile:<name>/<id>`.
    pub fn load(
        name: &str,
        files: &[(impl AsRef<str>, impl AsRef<str>)],
    ) -> Result<Self, LoadError> {
        check_profile_name(name)?;
        let prefix = format!("{PROFILE_ID_PREFIX}{name}/");
        let set = PolicySet(load(Kind::Profile, files, &prefix)?);
        Ok(Self {
            name: name.to_owned(),
            set,
        })
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its policies.
    pub fn policies(&self) -> &PolicySet {
        &self.set
    }
}

fn check_profile_name(name: &str) -> Result<(), LoadError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(LoadError::ProfileName(name.to_owned()))
    }
}

/// One parsed policy, before the set is validated.
struct Parsed {
    policy: Policy,
    file: usize,
    offset: usize,
    /// Its `@record_bodies` cap, if it has one.
    record_bodies: Option<usize>,
}

fn load(
    kind: Kind,
    files: &[(impl AsRef<str>, impl AsRef<str>)],
    id_prefix: &str,
) -> Result<Arc<Loaded>, LoadError> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.as_ref().to_owned(), t.as_ref().to_owned()))
        .collect();
    let mut diags = Vec::new();
    let mut parsed = Vec::new();
    for (i, (name, text)) in files.iter().enumerate() {
        parse_file(i, name, text, id_prefix, &mut parsed, &mut diags);
    }
    check_unique_ids(&files, &parsed, &mut diags);
    if !diags.is_empty() {
        return Err(LoadError::Invalid { diagnostics: diags });
    }
    let all = cedar_policy::PolicySet::from_policies(parsed.iter().map(|p| p.policy.clone()))
        .expect("ids were checked unique");
    let warnings = validate(kind, &all, &files, &parsed)?;
    Ok(Arc::new(assemble(all, &files, &parsed, warnings)))
}

/// Parses one file, naming each policy. Appends to `out` in file order.
fn parse_file(
    file: usize,
    name: &str,
    text: &str,
    id_prefix: &str,
    out: &mut Vec<Parsed>,
    diags: &mut Vec<Diagnostic>,
) {
    let set = match cedar_policy::PolicySet::from_str(text) {
        Ok(set) => set,
        Err(errors) => {
            let place = Place {
                file: name,
                text,
                fallback: 0,
            };
            diags.extend(
                errors
                    .iter()
                    .map(|e| diagnostics::from_cedar(e, place, None)),
            );
            return;
        }
    };
    for t in set.templates() {
        let offset = find_text(text, &t.to_cedar(), 0);
        let msg = "templates (policies with ?principal or ?resource slots) are not supported; name the principal and resource".to_owned();
        diags.push(diagnostics::at(name, text, offset, None, msg));
    }
    let mut cursor = 0;
    for (n, policy) in in_file_order(&set).into_iter().enumerate() {
        let offset = policy
            .to_cedar()
            .map_or(cursor, |src| find_text(text, &src, cursor));
        cursor = offset;
        let record_bodies = match record_bodies(policy) {
            Ok(cap) => cap,
            Err(msg) => {
                diags.push(diagnostics::at(name, text, offset, None, msg));
                continue;
            }
        };
        match policy_id(policy, name, n + 1, id_prefix) {
            Ok(id) => out.push(Parsed {
                policy: policy.new_id(PolicyId::new(id)),
                file,
                offset,
                record_bodies,
            }),
            Err(msg) => diags.push(diagnostics::at(name, text, offset, None, msg)),
        }
    }
}

/// Cedar names a file's policies `policy0`, `policy1`, ... in order of
/// appearance but hands them back unordered.
fn in_file_order(set: &cedar_policy::PolicySet) -> Vec<&Policy> {
    let mut policies: Vec<&Policy> = set.policies().collect();
    policies.sort_by_key(|p| {
        id_str(p.id())
            .strip_prefix("policy")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    });
    policies
}

/// Byte offset of `needle` in `text` at or after `from` (or `from`).
fn find_text(text: &str, needle: &str, from: usize) -> usize {
    text.get(from..)
        .and_then(|rest| rest.find(needle.trim()))
        .map_or(from, |i| from + i)
}

/// Largest body cap a policy may ask for.
pub const MAX_RECORD_BODIES: usize = 1 << 20;

/// The byte cap of a `@record_bodies("N")` annotation: on a permit only,
/// 1 to [`MAX_RECORD_BODIES`].
fn record_bodies(policy: &Policy) -> Result<Option<usize>, String> {
    let Some(raw) = policy.annotation("record_bodies") else {
        return Ok(None);
    };
    let cap = raw
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_RECORD_BODIES).contains(n));
    match (cap, policy.effect()) {
        (Some(n), CedarEffect::Permit) => Ok(Some(n)),
        (Some(_), CedarEffect::Forbid) => Err(
            "@record_bodies belongs on a permit: it says what to record about what the permit allows".into(),
        ),
        (None, _) => Err(format!(
            "invalid @record_bodies({raw:?}): give the byte cap, 1 to {MAX_RECORD_BODIES}"
        )),
    }
}

/// The policy's id: its `@id("...")` annotation, else `<file>#<n>` (n
/// counting from 1 in the file), after `prefix`.
fn policy_id(policy: &Policy, file: &str, n: usize, prefix: &str) -> Result<String, String> {
    let Some(id) = policy.annotation("id") else {
        return Ok(format!("{prefix}{file}#{n}"));
    };
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with(PROFILE_ID_PREFIX)
        && !id.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(format!("{prefix}{id}"))
    } else {
        Err(format!(
            "invalid @id({id:?}): use 1-128 characters without spaces, not starting with {PROFILE_ID_PREFIX:?}"
        ))
    }
}

fn check_unique_ids(files: &[(String, String)], parsed: &[Parsed], diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &Parsed> = HashMap::new();
    for p in parsed {
        let id = id_str(p.policy.id());
        if let Some(first) = seen.insert(id, p) {
            let (name, text) = &files[p.file];
            let (line, _) = diagnostics::line_col(&files[first.file].1, first.offset);
            let where_ = format!("{}:{line}", files[first.file].0);
            let msg = format!("duplicate policy id {id:?} (first used at {where_})");
            diags.push(diagnostics::at(
                name,
                text,
                p.offset,
                Some(id.to_owned()),
                msg,
            ));
        }
    }
}

/// Validates against the schema in strict mode. Errors refuse the set;
/// warnings are kept for the caller to show.
fn validate(
    kind: Kind,
    all: &cedar_policy::PolicySet,
    files: &[(String, String)],
    parsed: &[Parsed],
) -> Result<Vec<Diagnostic>, LoadError> {
    let result = schemas()
        .validator(kind)
        .validate(all, ValidationMode::Strict);
    let by_id: HashMap<&str, &Parsed> = parsed.iter().map(|p| (id_str(p.policy.id()), p)).collect();
    let locate = |id: &PolicyId, d: &dyn miette::Diagnostic| {
        let p = by_id[id_str(id)];
        let (file, text) = &files[p.file];
        let place = Place {
            file,
            text,
            fallback: p.offset,
        };
        diagnostics::from_cedar(d, place, Some(id.to_string()))
    };
    let mut errors = dedup(result.validation_errors().map(|e| locate(e.policy_id(), e)));
    let mut warnings = Vec::new();
    for w in result.validation_warnings() {
        let d = locate(w.policy_id(), w);
        // A policy with errors "never applies" too; saying so is noise.
        let has_errors = errors.iter().any(|e| e.policy == d.policy);
        match (never_applies(w), has_errors) {
            (true, false) => errors.push(d),
            (true, true) => {}
            (false, _) => warnings.push(d),
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(LoadError::Invalid {
            diagnostics: errors,
        })
    }
}

/// The validator checks a policy once per action it may apply to, so an
/// unconstrained `action` with one bad attribute yields one error per
/// action. Keep the first per place, and count the others.
fn dedup(diags: impl Iterator<Item = Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<(Diagnostic, usize)> = Vec::new();
    for d in diags {
        let same = |(o, _): &&mut (Diagnostic, usize)| {
            (&o.file, o.line, o.column, &o.policy) == (&d.file, d.line, d.column, &d.policy)
        };
        match out.iter_mut().find(same) {
            Some((_, n)) => *n += 1,
            None => out.push((d, 0)),
        }
    }
    out.into_iter()
        .map(|(mut d, n)| {
            if n > 0 {
                d.message
                    .push_str(&format!(" (and {n} similar, for other actions)"));
            }
            d
        })
        .collect()
}

/// A policy that can never apply is refused, not merely warned about: a
/// forbid that silently matches nothing (say, over `Workload` principals in
/// the cluster set, where principals are users) is a hole nobody sees.
fn never_applies(w: &ValidationWarning) -> bool {
    matches!(
        w,
        ValidationWarning::ImpossiblePolicy(_) | ValidationWarning::InvalidActionApplication(_)
    )
}

fn assemble(
    all: cedar_policy::PolicySet,
    files: &[(String, String)],
    parsed: &[Parsed],
    warnings: Vec<Diagnostic>,
) -> Loaded {
    let of_effect = |e: CedarEffect| {
        let ps = parsed.iter().filter(|p| p.policy.effect() == e);
        cedar_policy::PolicySet::from_policies(ps.map(|p| p.policy.clone()))
            .expect("ids were checked unique")
    };
    let sources = parsed
        .iter()
        .map(|p| {
            let (file, text) = &files[p.file];
            let (line, _) = diagnostics::line_col(text, p.offset);
            let source = Source {
                file: file.clone(),
                line,
            };
            (p.policy.id().to_string(), source)
        })
        .collect();
    let record_bodies = parsed
        .iter()
        .filter_map(|p| Some((p.policy.id().to_string(), p.record_bodies?)))
        .collect();
    Loaded {
        record_bodies,
        index: Index::build(&all),
        permits: of_effect(CedarEffect::Permit),
        forbids: of_effect(CedarEffect::Forbid),
        sources,
        files: files.to_vec(),
        warnings,
    }
}

/// A Cedar policy id as text (`AsRef` alone is ambiguous for it).
fn id_str(id: &PolicyId) -> &str {
    id.as_ref()
}
