//! What an admin registers: HTTP services (with credential headers that
//! name secrets) and inference endpoints (with their API key's secret).
//! Secrets are referenced by name only; the values never leave the control
//! plane except into the proxy's upstream requests.

use serde::{Deserialize, Serialize};

/// A registered resource's settings, stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ResourceSpec {
    /// An HTTP API reached through the proxy.
    Http {
        /// Upstream base URL (`https://api.github.com`).
        url: String,
        /// Headers injected into every request, `${secret:NAME}` resolved.
        #[serde(default)]
        inject_headers: Vec<HeaderTemplate>,
        /// PEM CA trusted for this upstream instead of the system roots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_pem: Option<String>,
    },
    /// An LLM endpoint (OpenAI- or Anthropic-compatible).
    Inference {
        /// `openai` or `anthropic`.
        provider: String,
        /// Upstream base URL.
        url: String,
        /// The secret holding the API key.
        secret: String,
        /// Model patterns (`gpt-4o*`); empty = any.
        #[serde(default)]
        models: Vec<String>,
        /// Requests per minute per user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requests_per_minute: Option<u32>,
        /// Tokens per day per user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens_per_day: Option<u64>,
        /// Record request/response bodies in audit events, capped at this size.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_bodies: Option<usize>,
        /// PEM CA trusted for this upstream instead of the system roots.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_pem: Option<String>,
    },
}

/// `Header: value with ${secret:NAME}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderTemplate {
    /// Header name.
    pub name: String,
    /// Value template.
    pub value: String,
}

impl HeaderTemplate {
    /// Parses `Name: value`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, value) = s
            .split_once(':')
            .ok_or_else(|| format!("--inject-header {s:?}: write 'Header-Name: value'"))?;
        let name = name.trim();
        if name.is_empty() || airlock_proxy::http::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return Err(format!(
                "--inject-header {s:?}: {name:?} is not a header name"
            ));
        }
        Ok(Self {
            name: name.to_ascii_lowercase(),
            value: value.trim().to_owned(),
        })
    }
}

/// The secret names a template refers to (`${secret:NAME}`).
pub fn secret_refs(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("${secret:") {
        let after = &rest[i + 9..];
        match after.find('}') {
            Some(j) => {
                out.push(after[..j].to_owned());
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// Replaces every `${secret:NAME}` with its value; unknown names are an error.
pub fn render(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find("${secret:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 9..];
        let j = after
            .find('}')
            .ok_or_else(|| "unterminated ${secret:...}".to_owned())?;
        let name = &after[..j];
        out.push_str(&lookup(name).ok_or_else(|| format!("no secret named {name:?}"))?);
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ResourceSpec {
    /// Every secret the resource needs.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Self::Http { inject_headers, .. } => inject_headers
                .iter()
                .flat_map(|h| secret_refs(&h.value))
                .collect(),
            Self::Inference { secret, .. } => vec![secret.clone()],
        }
    }

    /// `http` or `inference`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http { .. } => "http",
            Self::Inference { .. } => "inference",
        }
    }

    /// Checks what can be checked without secrets: URL, provider, patterns.
    pub fn validate(&self) -> Result<(), String> {
        let url = match self {
            Self::Http { url, .. } => url,
            Self::Inference { url, provider, .. } => {
                if provider != "openai" && provider != "anthropic" {
                    return Err(format!(
                        "unknown provider {provider:?}: use openai or anthropic"
                    ));
                }
                url
            }
        };
        airlock_proxy::Upstream::parse(url).map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            secret_refs("Bearer ${secret:gh} x ${secret:b}"),
            vec!["gh", "b"]
        );
        let lookup = |n: &str| (n == "gh").then(|| "T0K".to_owned());
        assert_eq!(render("Bearer ${secret:gh}", lookup).unwrap(), "Bearer T0K");
        assert!(render("${secret:nope}", lookup).is_err());
        assert!(HeaderTemplate::parse("no colon").is_err());
        assert_eq!(
            HeaderTemplate::parse("Authorization: token x")
                .unwrap()
                .name,
            "authorization"
        );
    }
}
