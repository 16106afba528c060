//! Problems found in policy files, located by file, line and column, so an
//! admin can go straight to the policy that was refused.

use std::fmt;

use serde::Serialize;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file's name, as given to the loader.
    pub file: String,
    /// 1-based line of the problem (of the policy, when Cedar gave no span).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The policy concerned, when the problem is in one policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// What is wrong, with Cedar's hint when it has one.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(id) = &self.policy {
            write!(f, " (policy {id})")?;
        }
        Ok(())
    }
}

/// Where in one file a diagnostic points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub file: &'a str,
    pub text: &'a str,
    /// Byte offset to use when the diagnostic carries no span.
    pub fallback: usize,
}

/// Converts one of Cedar's miette diagnostics, taking its first label as the
/// location and appending its help.
pub(crate) fn from_cedar(
    d: &dyn miette::Diagnostic,
    place: Place<'_>,
    policy: Option<String>,
) -> Diagnostic {
    let offset = d
        .labels()
        .and_then(|mut ls| ls.next())
        .map_or(place.fallback, |l| l.offset());
    let mut message = d.to_string();
    if let Some(help) = d.help() {
        message.push_str("; ");
        message.push_str(&help.to_string());
    }
    at(place.file, place.text, offset, policy, message)
}

/// A diagnostic at byte `offset` of `text`.
pub(crate) fn at(
    file: &str,
    text: &str,
    offset: usize,
    policy: Option<String>,
    message: String,
) -> Diagnostic {
    let (line, column) = line_col(text, offset);
    Diagnostic {
        file: file.to_owned(),
        line,
        column,
        policy,
        message,
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn lines_and_columns() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4), "é counts as one column");
        assert_eq!(line_col(t, 99), (3, 2), "past the end clamps");
    }
}
