//! Model allow-lists: glob patterns over model names.

/// Whether `model` may be called under `patterns` (empty: any model).
pub(crate) fn model_allowed(patterns: &[String], model: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob(p, model))
}

/// `*` matches any run of characters, `?` exactly one; everything else
/// itself. Iterative with one backtrack point, so linear-ish on any input.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        // A `*` is always a wildcard, even where the text holds a `*` too.
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("gpt-4o*", "gpt-4o-mini", true),
            ("gpt-4o*", "gpt-4", false),
            ("claude-*-4-*", "claude-sonnet-4-5", true),
            ("claude-?aiku*", "claude-haiku-4", true),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("*", "*c*", true),
            ("gpt-*", "gpt-*x", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
        assert!(model_allowed(&[], "anything"));
        assert!(!model_allowed(&["gpt-*".into()], ""));
    }
}
