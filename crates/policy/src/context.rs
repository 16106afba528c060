//! The request's context: checked against the action's context type and
//! converted to Cedar by hand.
//!
//! Why not Cedar's JSON parser and request validation: together they cost
//! more than the rest of a decision (the parser goes through its own JSON
//! model, the validator re-derives the type every time). The context types
//! are read from the schema once, and the check here is a few comparisons;
//! it also says exactly which attribute is wrong. A test holds it to
//! agreeing with Cedar's validation.
//!
//! Strings, integers and booleans become Cedar values directly; only a
//! context with an IP address (an extension value) is built from
//! expressions that Cedar evaluates, which cost a third of a proxy
//! decision when every context went that way.

use std::collections::BTreeMap;

use cedar_policy::{Context, RestrictedExpression};
use serde_json::{Map, Value};

use crate::request::Request;

/// Attributes the engine derives from `time` (Cedar has no division, so a
/// policy could not compute them); a caller may not set them.
const DERIVED: &[&str] = &["time_of_day", "day_of_week"];

/// The context type of one action: attribute name to type and presence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ContextType(BTreeMap<String, Attr>);

/// One attribute of a context type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attr {
    ty: Primitive,
    required: bool,
}

/// The attribute types Airlock's contexts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Primitive {
    String,
    Long,
    Bool,
    Ip,
}

impl Primitive {
    fn name(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Long => "an integer (Long)",
            Self::Bool => "a boolean",
            Self::Ip => "an IP address string",
        }
    }
}

impl ContextType {
    /// Reads a record type from the JSON form of the schema. Panics on a
    /// type the engine cannot check: the schema is built in, and a test
    /// reads every context type.
    pub fn from_schema_json(record: &Value) -> Self {
        let attrs = record["attributes"]
            .as_object()
            .expect("a context type is a record");
        let attrs = attrs.iter().map(|(name, a)| {
            let ty = match a["name"].as_str().or(a["type"].as_str()) {
                Some("String") => Primitive::String,
                Some("Long") => Primitive::Long,
                Some("Boolean" | "Bool") => Primitive::Bool,
                Some("ipaddr" | "__cedar::ipaddr") => Primitive::Ip,
                other => panic!("context attribute {name} has unsupported type {other:?}"),
            };
            let required = a["required"].as_bool().unwrap_or(true);
            (name.clone(), Attr { ty, required })
        });
        Self(attrs.collect())
    }
}

/// Checks the request's context against `ty` and converts it, adding the
/// attributes derived from `time`.
pub(crate) fn convert(req: &Request, ty: &ContextType) -> Result<Context, String> {
    let invalid = |e: String| format!("invalid context for {}: {e}", req.action);
    let map = req.context.as_map();
    let mut pairs = Vec::with_capacity(map.len() + DERIVED.len());
    for (key, value) in map {
        pairs.push((key.as_str(), attribute(ty, key, value).map_err(invalid)?));
    }
    let time = map.get("time").and_then(Value::as_i64);
    for (key, value) in derived(time) {
        pairs.push((key, Attribute::Value(value.into())));
    }
    if let Some(missing) = ty.0.iter().find(|(k, a)| a.required && !present(map, k)) {
        let what = if missing.0 == "time" {
            " (unix seconds: the engine has no clock)"
        } else {
            ""
        };
        return Err(invalid(format!(
            "attribute `{}` is required{what}",
            missing.0
        )));
    }
    build(pairs).map_err(invalid)
}

/// One converted attribute: a value, or an expression Cedar must evaluate.
enum Attribute {
    Value(cedar_policy_core::ast::Value),
    Expression(RestrictedExpression),
}

/// The Cedar context of checked attributes (keys are unique: they come
/// from a map, and the derived ones may not be set by the caller).
fn build(pairs: Vec<(&str, Attribute)>) -> Result<Context, String> {
    if pairs.iter().all(|(_, a)| matches!(a, Attribute::Value(_))) {
        let values = pairs.into_iter().filter_map(|(k, a)| match a {
            Attribute::Value(v) => Some((k.into(), v)),
            Attribute::Expression(_) => None,
        });
        let record = cedar_policy_core::ast::Context::Value(std::sync::Arc::new(values.collect()));
        return Ok(Context::from(record));
    }
    let expressions = pairs.into_iter().map(|(k, a)| {
        let e = match a {
            Attribute::Value(v) => {
                RestrictedExpression::from(cedar_policy_core::ast::RestrictedExpr::from(v))
            }
            Attribute::Expression(e) => e,
        };
        (k.to_owned(), e)
    });
    Context::from_pairs(expressions).map_err(|e| e.to_string())
}

fn present(map: &Map<String, Value>, key: &str) -> bool {
    map.contains_key(key) || DERIVED.contains(&key)
}

/// One caller-supplied attribute, checked and converted.
fn attribute(ty: &ContextType, key: &str, value: &Value) -> Result<Attribute, String> {
    if DERIVED.contains(&key) {
        return Err(format!("`{key}` is derived from `time`; set only `time`"));
    }
    let Some(attr) = ty.0.get(key) else {
        return Err(format!(
            "attribute `{key}` is not part of this action's context"
        ));
    };
    let wrong = || format!("attribute `{key}` must be {}, not {value}", attr.ty.name());
    Ok(match (attr.ty, value) {
        (Primitive::String, Value::String(s)) => Attribute::Value(s.as_str().into()),
        (Primitive::Long, Value::Number(n)) => {
            Attribute::Value(n.as_i64().ok_or_else(wrong)?.into())
        }
        (Primitive::Bool, Value::Bool(b)) => Attribute::Value((*b).into()),
        (Primitive::Ip, Value::String(s))
            if s.parse::<std::net::IpAddr>().is_ok() || is_cidr(s) =>
        {
            Attribute::Expression(RestrictedExpression::new_ip(s))
        }
        _ => return Err(wrong()),
    })
}

/// `a.b.c.d/n` or `v6/n`: Cedar's `ip()` also takes ranges.
fn is_cidr(s: &str) -> bool {
    s.split_once('/').is_some_and(|(ip, bits)| {
        ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok()
    })
}

/// `time_of_day` and `day_of_week` for `time` (both 0 when it is absent,
/// which the required-attribute check then refuses).
fn derived(time: Option<i64>) -> [(&'static str, i64); 2] {
    let t = time.unwrap_or(0);
    let days = t.div_euclid(86_400);
    // 1970-01-01 was a Thursday (ISO day 4).
    let weekday = (days + 3).rem_euclid(7) + 1;
    [
        ("time_of_day", t.rem_euclid(86_400)),
        ("day_of_week", weekday),
    ]
}

#[cfg(test)]
mod tests;
