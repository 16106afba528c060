//! Why a policy set, profile or examples file is refused.

use airlock_core::Effect;

use crate::diagnostics::Diagnostic;

/// A policy set, profile or examples file was refused; the caller keeps
/// whatever set it had active before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Cedar could not parse or validate the policies.
    #[error("policy set refused: {}", list(diagnostics))]
    Invalid {
        /// Every problem found, located.
        diagnostics: Vec<Diagnostic>,
    },
    /// A profile name that cannot be used.
    #[error("invalid profile name {0:?}: use 1-64 characters: lowercase letters, digits, '-', '_'")]
    ProfileName(String),
    /// An examples file that does not parse.
    #[error("examples file {file}: {message}")]
    ExamplesFile {
        /// The file's name.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// An example's expectation does not hold.
    #[error(
        "example {name:?} in {file} expects {expected} but the policies decide {got}: {reason}"
    )]
    ExampleFailed {
        /// The examples file.
        file: String,
        /// The example's name.
        name: String,
        /// What the example expects.
        expected: String,
        /// What the policies decided.
        got: Effect,
        /// The decision's reason (and policies).
        reason: String,
    },
}

impl LoadError {
    /// The located problems, when Cedar refused the policies.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Invalid { diagnostics } => diagnostics,
            _ => &[],
        }
    }
}

/// One problem inline; several, one per line under a count.
fn list(diags: &[Diagnostic]) -> String {
    match diags {
        [one] => one.to_string(),
        many => {
            let lines: Vec<String> = many.iter().map(|d| format!("  {d}")).collect();
            format!("{} problems:\n{}", many.len(), lines.join("\n"))
        }
    }
}
