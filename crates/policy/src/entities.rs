//! How a [`Request`] becomes Cedar: the principal, its roles, the resource
//! and the action as entities, and the context checked against the schema.
//!
//! Entities are built straight from typed Rust values, so they conform to
//! the schema by construction (a test checks this against the schema); the
//! context is caller-supplied JSON and is checked on every request.

use std::collections::HashSet;

use cedar_policy::{
    Context, Entities, Entity, EntityUid, RequestValidationError, RestrictedExpression, Schema,
};

use crate::request::{Request, Resource, UserInfo, WorkloadInfo};
use crate::schema::{ActionInfo, uid};

/// A request translated for one evaluation stage.
#[derive(Debug)]
pub(crate) struct Translated {
    pub request: cedar_policy::Request,
    pub entities: Entities,
    /// The principal's index keys: the principal, then each role.
    pub principal_keys: Vec<EntityUid>,
}

/// Why a request cannot be put to Cedar; it denies.
pub(crate) type TranslateError = String;

/// Translates `req` for the user stage: the principal is the human.
pub(crate) fn for_user(
    req: &Request,
    action: &ActionInfo,
    context: &Context,
    schema: &Schema,
) -> Result<Translated, TranslateError> {
    let user = req.principal.user();
    let mut entities = user_entities(user);
    let principal = entities[0].uid();
    let principal_keys = entities.iter().map(Entity::uid).collect();
    let resource = push_resource(&mut entities, &req.resource)?;
    entities.push(action.entity.clone());
    finish(
        principal,
        principal_keys,
        resource,
        entities,
        action,
        context,
        schema,
    )
}

/// Translates `req` for the profile stage: the principal is the workload.
pub(crate) fn for_workload(
    req: &Request,
    workload: &WorkloadInfo,
    action: &ActionInfo,
    context: &Context,
    schema: &Schema,
) -> Result<Translated, TranslateError> {
    let mut entities = workload_entities(workload);
    let principal = entities[0].uid();
    let principal_keys = vec![principal.clone()];
    let resource = push_resource(&mut entities, &req.resource)?;
    entities.push(action.entity.clone());
    finish(
        principal,
        principal_keys,
        resource,
        entities,
        action,
        context,
        schema,
    )
}

fn finish(
    principal: EntityUid,
    principal_keys: Vec<EntityUid>,
    resource: EntityUid,
    entities: Vec<Entity>,
    action: &ActionInfo,
    context: &Context,
    schema: &Schema,
) -> Result<Translated, TranslateError> {
    let request = cedar_policy::Request::new(
        principal,
        action.uid.clone(),
        resource,
        context.clone(),
        Some(schema),
    )
    .map_err(|e| match e {
        // Cedar's own message only repeats the context; say what to check.
        RequestValidationError::InvalidContext(_) => format!(
            "invalid context for {}: an attribute has the wrong type (see the action's context type in the schema)",
            action.uid.id().unescaped()
        ),
        other => format!("invalid request: {other}"),
    })?;
    // No schema here: the entities are well-typed by construction, and
    // checking them again would cost more than the decision itself.
    let entities =
        Entities::from_entities(entities, None).map_err(|e| format!("invalid entities: {e}"))?;
    Ok(Translated {
        request,
        entities,
        principal_keys,
    })
}

/// Parses the request's JSON context against the action's context type,
/// adding `now`: `time` as a Cedar datetime, so policies can compare times
/// of day (`context.now.toTime() < duration("9h")`) without arithmetic.
pub(crate) fn context(
    req: &Request,
    action: &ActionInfo,
    schema: &Schema,
) -> Result<Context, TranslateError> {
    let invalid = |e: &dyn std::fmt::Display| format!("invalid context for {}: {e}", req.action);
    let mut map = req.context.as_map().clone();
    if map.contains_key("now") {
        return Err(invalid(&"`now` is derived from `time`; set only `time`"));
    }
    let Some(time) = map.get("time").and_then(serde_json::Value::as_i64) else {
        return Err(invalid(&"`time` (unix seconds, an integer) is required"));
    };
    let now = rfc3339(time).ok_or_else(|| invalid(&"`time` is out of range"))?;
    map.insert("now".to_owned(), now.into());
    Context::from_json_value(map.into(), Some((schema, &action.uid))).map_err(|e| invalid(&e))
}

/// `unix` seconds as `YYYY-MM-DDThh:mm:ssZ`, for years 0 to 9999 (what a
/// Cedar datetime accepts).
fn rfc3339(unix: i64) -> Option<String> {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let (hh, mm, ss) = (secs / 3600, secs % 3600 / 60, secs % 60);
    Some(format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm), so the crate needs no date library and no clock.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The user entity first, then one entity per role.
pub(crate) fn user_entities(user: &UserInfo) -> Vec<Entity> {
    let roles: Vec<EntityUid> = user.roles.iter().map(|r| uid("Role", r.as_str())).collect();
    let tags = user.traits.iter().map(|(k, vs)| {
        let set = vs
            .iter()
            .map(|v| RestrictedExpression::new_string(v.clone()));
        (k.clone(), RestrictedExpression::new_set(set))
    });
    let attrs = [("name".to_owned(), string(user.name.as_str()))];
    let me = Entity::new_with_tags(uid("User", user.name.as_str()), attrs, roles.clone(), tags)
        .expect("user attributes are literals");
    let mut out = vec![me];
    out.extend(
        roles
            .into_iter()
            .map(|r| Entity::new_no_attrs(r, HashSet::new())),
    );
    out
}

/// The workload first, then its sandbox, its user and the user's roles.
fn workload_entities(w: &WorkloadInfo) -> Vec<Entity> {
    let sandbox = uid("Sandbox", w.sandbox.as_str());
    let user = uid("User", w.user.name.as_str());
    let mut attrs = vec![
        (
            "sandbox",
            RestrictedExpression::new_entity_uid(sandbox.clone()),
        ),
        ("user", RestrictedExpression::new_entity_uid(user)),
        ("isolation", string(w.isolation.as_str())),
    ];
    if let Some(p) = &w.profile {
        attrs.push(("profile", string(p)));
    }
    let me = entity(uid("Workload", w.sandbox.as_str()), attrs, []);
    let sb = sandbox_entity(
        sandbox,
        w.user.name.as_str(),
        w.isolation.as_str(),
        &w.image,
    );
    let mut out = vec![me, sb];
    out.extend(user_entities(&w.user));
    out
}

/// Appends the resource's entities (the resource first) unless an entity
/// with its uid is already there, in which case the two must agree: a
/// request describing one sandbox two ways is refused rather than guessed at.
fn push_resource(entities: &mut Vec<Entity>, r: &Resource) -> Result<EntityUid, TranslateError> {
    let mine = resource_entities(r);
    let id = mine[0].uid();
    for e in mine {
        match entities.iter().find(|x| x.uid() == e.uid()) {
            Some(x) if x.deep_eq(&e) => {}
            Some(_) => return Err(format!("{} is described in two different ways", e.uid())),
            None => entities.push(e),
        }
    }
    Ok(id)
}

fn resource_entities(r: &Resource) -> Vec<Entity> {
    match r {
        Resource::Sandbox {
            id,
            owner,
            isolation,
            image,
        } => vec![sandbox_entity(
            uid("Sandbox", id.as_str()),
            owner.as_str(),
            isolation.as_str(),
            image,
        )],
        Resource::HttpService { name, host } => vec![entity(
            uid("HttpService", name),
            [("name", string(name)), ("host", string(host))],
            [],
        )],
        Resource::Inference { name, kind } => vec![entity(
            uid("InferenceEndpoint", name),
            [("name", string(name)), ("kind", string(kind.as_str()))],
            [],
        )],
        Resource::Egress { host, port } => vec![entity(
            uid("Egress", &format!("{host}:{port}")),
            [("host", string(host)), ("port", long(i64::from(*port)))],
            [],
        )],
        Resource::Database { name, kind } => vec![entity(
            uid("Database", name),
            [("name", string(name)), ("kind", string(kind))],
            [],
        )],
        Resource::McpTool { server, tool } => mcp_entities(server, tool),
        Resource::Cluster => vec![Entity::with_uid(uid("Cluster", "cluster"))],
        Resource::AuditLog => vec![Entity::with_uid(uid("AuditLog", "audit"))],
    }
}

fn mcp_entities(server: &str, tool: &str) -> Vec<Entity> {
    let server_uid = uid("McpServer", server);
    let tool_e = entity(
        uid("McpTool", &format!("{server}/{tool}")),
        [("name", string(tool)), ("server", string(server))],
        [server_uid.clone()],
    );
    let server_e = entity(server_uid, [("name", string(server))], []);
    vec![tool_e, server_e]
}

fn sandbox_entity(id: EntityUid, owner: &str, isolation: &str, image: &str) -> Entity {
    entity(
        id,
        [
            (
                "owner",
                RestrictedExpression::new_entity_uid(uid("User", owner)),
            ),
            ("isolation", string(isolation)),
            ("image", string(image)),
        ],
        [],
    )
}

/// An entity from literal attributes, which cannot fail to evaluate.
fn entity<'a>(
    id: EntityUid,
    attrs: impl IntoIterator<Item = (&'a str, RestrictedExpression)>,
    parents: impl IntoIterator<Item = EntityUid>,
) -> Entity {
    let attrs = attrs.into_iter().map(|(k, v)| (k.to_owned(), v));
    Entity::new_with_tags(id, attrs, parents, []).expect("literal attributes always evaluate")
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn long(n: i64) -> RestrictedExpression {
    RestrictedExpression::new_long(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Context as Ctx, Principal};
    use crate::schema::{Kind, schemas};
    use airlock_core::{IsolationClass, SandboxId, UserName};

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1).unwrap(), "1969-12-31T23:59:59Z");
        assert!(rfc3339(i64::MAX / 2).is_none());
    }

    /// The entities are built without the schema for speed; this checks
    /// that every kind of them conforms to it.
    #[test]
    fn entities_conform_to_the_schema() {
        let user = UserInfo {
            traits: [("team".to_owned(), vec!["ml".to_owned()])].into(),
            ..UserInfo::new(
                UserName::new("alice").unwrap(),
                vec!["dev".parse().unwrap()],
            )
        };
        let w = WorkloadInfo {
            user: user.clone(),
            sandbox: SandboxId::new("sb-1").unwrap(),
            isolation: IsolationClass::Gvisor,
            image: "debian".into(),
            profile: Some("p".into()),
        };
        let resources = [
            Resource::Sandbox {
                id: SandboxId::new("sb-2").unwrap(),
                owner: UserName::new("bob").unwrap(),
                isolation: IsolationClass::Runc,
                image: "x".into(),
            },
            Resource::HttpService {
                name: "a".into(),
                host: "h".into(),
            },
            Resource::Inference {
                name: "a".into(),
                kind: crate::InferenceKind::Anthropic,
            },
            Resource::Egress {
                host: "h".into(),
                port: 1,
            },
            Resource::Database {
                name: "d".into(),
                kind: "postgres".into(),
            },
            Resource::McpTool {
                server: "s".into(),
                tool: "t".into(),
            },
            Resource::Cluster,
            Resource::AuditLog,
        ];
        let mut all = workload_entities(&w);
        all.extend(user_entities(&user).into_iter().skip(2));
        for r in &resources {
            all.extend(resource_entities(r));
        }
        Entities::from_entities(all, Some(schemas().schema(Kind::User))).unwrap();
        let req = Request::new(Principal::Workload(w), "x", Resource::Cluster, Ctx::at(0));
        assert!(matches!(req.principal, Principal::Workload(_)));
    }
}
