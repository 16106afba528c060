//! How a [`Request`] becomes Cedar: the principal, its roles, the resource
//! and the action as entities, and the context checked against the schema.
//!
//! Entities are built straight from typed Rust values, so they conform to
//! the schema by construction (a test checks this against the schema); the
//! context (see [`crate::context`]) is checked against it on every request.

use std::sync::Arc;

use cedar_policy::{Context, Entities, Entity, EntityUid, RestrictedExpression};

use crate::memo::{Memo, Who};
use crate::request::{Request, Resource, UserInfo, WorkloadInfo};
use crate::schema::{ActionInfo, uid};

/// What every stage of one request shares: the request, its action and
/// its context, already converted once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    pub req: &'a Request,
    pub action: &'a ActionInfo,
    pub context: &'a Context,
}

/// What a stage's translation takes from the principal, the resource and
/// the action alone (not the context): the entity store and the index
/// keys. The engine memoizes it ([`crate::memo`]).
#[derive(Debug)]
pub(crate) struct Parts {
    pub entities: Entities,
    pub principal: EntityUid,
    pub resource: EntityUid,
    /// The principal's index keys: the principal, then each role.
    pub principal_keys: Vec<EntityUid>,
    /// The resource's index keys: the resource, then its parents.
    pub resource_keys: Vec<EntityUid>,
}

/// A request translated for one evaluation stage.
#[derive(Debug)]
pub(crate) struct Translated {
    pub request: cedar_policy::Request,
    pub parts: Arc<Parts>,
}

/// Why a request cannot be put to Cedar; it denies.
pub(crate) type TranslateError = String;

/// Translates for the user stage: the principal is the human.
pub(crate) fn for_user(input: Input<'_>, memo: &Memo) -> Result<Translated, TranslateError> {
    let user = input.req.principal.user();
    let parts = memo.get_or_build(
        Who::User(user),
        &input.req.resource,
        &input.req.action,
        || {
            let mut principal_keys = vec![uid("User", user.name.as_str())];
            principal_keys.extend(user.roles.iter().map(|r| uid("Role", r.as_str())));
            parts(input, principal_keys, vec![user_entity(user)])
        },
    )?;
    translated(input, parts)
}

/// Translates for the profile stage: the principal is the workload.
pub(crate) fn for_workload(
    input: Input<'_>,
    workload: &WorkloadInfo,
    memo: &Memo,
) -> Result<Translated, TranslateError> {
    let who = Who::Workload(workload);
    let parts = memo.get_or_build(who, &input.req.resource, &input.req.action, || {
        let entities = workload_entities(workload);
        let principal_keys = vec![entities[0].uid()];
        parts(input, principal_keys, entities)
    })?;
    translated(input, parts)
}

/// The Cedar request: the memoized parts with this request's context. It is
/// not validated by Cedar: the context was checked when it was converted,
/// principals are of the stage's type by construction, and the resource
/// type was checked when the parts were built.
fn translated(input: Input<'_>, parts: Arc<Parts>) -> Result<Translated, TranslateError> {
    let request = cedar_policy::Request::new(
        parts.principal.clone(),
        input.action.uid.clone(),
        parts.resource.clone(),
        input.context.clone(),
        None,
    )
    .map_err(|e| format!("invalid request: {e}"))?;
    Ok(Translated { request, parts })
}

/// Adds the resource and action entities to the principal's (which come
/// first) and checks the resource's type against the action's.
fn parts(
    input: Input<'_>,
    principal_keys: Vec<EntityUid>,
    mut entities: Vec<Entity>,
) -> Result<Parts, TranslateError> {
    let principal = entities[0].uid();
    let (resource, resource_keys) = push_resource(&mut entities, &input.req.resource)?;
    if resource.type_name() != &input.action.resource_type {
        return Err(format!(
            "{} applies to {}, not to {}",
            input.req.action,
            input.action.resource_type.basename(),
            resource.type_name().basename()
        ));
    }
    entities.push(input.action.entity.clone());
    Ok(Parts {
        entities: store(entities)?,
        principal,
        resource,
        principal_keys,
        resource_keys,
    })
}

/// The entity store of one request. The hierarchy is complete by
/// construction: a user's parents are its roles, an action's its groups, a
/// tool's its server, and none of those has parents of its own. So the
/// transitive closure is not recomputed (with `Entities::from_entities` that
/// would be a third of a decision's time); a test checks the shortcut
/// against the full computation.
fn store(entities: Vec<Entity>) -> Result<Entities, TranslateError> {
    use cedar_policy_core::entities::{Entities as CoreEntities, TCComputation};
    use cedar_policy_core::extensions::Extensions;
    use cedar_policy_core::validator::CoreSchema;
    let core = entities.into_iter().map(|e| e.as_ref().clone());
    CoreEntities::from_entities(
        core,
        None::<&CoreSchema<'_>>,
        TCComputation::AssumeAlreadyComputed,
        Extensions::all_available(),
    )
    .map(Entities::from)
    .map_err(|e| format!("invalid entities: {e}"))
}

/// The user, a member of its roles. Role entities themselves are not
/// needed: `principal in Role::"x"` reads the user's ancestors, and a role
/// has no attributes.
pub(crate) fn user_entity(user: &UserInfo) -> Entity {
    let roles = user.roles.iter().map(|r| uid("Role", r.as_str()));
    let tags = user.traits.iter().map(|(k, vs)| {
        let set = vs
            .iter()
            .map(|v| RestrictedExpression::new_string(v.clone()));
        (k.clone(), RestrictedExpression::new_set(set))
    });
    let attrs = [("name".to_owned(), string(user.name.as_str()))];
    Entity::new_with_tags(uid("User", user.name.as_str()), attrs, roles, tags)
        .expect("user attributes are literals")
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
    vec![me, sb, user_entity(&w.user)]
}

/// Appends the resource's entities (the resource first) unless an entity
/// with its uid is already there, in which case the two must agree: a
/// request describing one sandbox two ways is refused rather than guessed at.
/// Returns the resource's uid and its index keys (itself and its parents).
fn push_resource(
    entities: &mut Vec<Entity>,
    r: &Resource,
) -> Result<(EntityUid, Vec<EntityUid>), TranslateError> {
    let mine = resource_entities(r);
    let id = mine[0].uid();
    let mut keys = vec![id.clone()];
    keys.extend(parents(r));
    for e in mine {
        match entities.iter().find(|x| x.uid() == e.uid()) {
            Some(x) if x.deep_eq(&e) => {}
            Some(_) => return Err(format!("{} is described in two different ways", e.uid())),
            None => entities.push(e),
        }
    }
    Ok((id, keys))
}

/// The parents a resource entity is built with: an MCP tool is in its
/// server. Like roles, the server entity itself is not needed for
/// `resource in McpServer::"x"`.
fn parents(r: &Resource) -> Vec<EntityUid> {
    match r {
        Resource::McpTool { server, .. } => vec![uid("McpServer", server)],
        _ => Vec::new(),
    }
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
        Resource::McpTool { server, tool } => vec![entity(
            uid("McpTool", &format!("{server}/{tool}")),
            [("name", string(tool)), ("server", string(server))],
            parents(r),
        )],
        Resource::Cluster => vec![Entity::with_uid(uid("Cluster", "cluster"))],
        Resource::AuditLog => vec![Entity::with_uid(uid("AuditLog", "audit"))],
    }
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
        for r in &resources {
            all.extend(resource_entities(r));
        }
        all.push(schemas().actions["sandbox.exec"].entity.clone());
        Entities::from_entities(all.clone(), Some(schemas().schema(Kind::User))).unwrap();
        let computed = Entities::from_entities(all.clone(), None).unwrap();
        assert!(
            computed.deep_eq(&store(all).unwrap()),
            "the closure is complete as built"
        );
        let req = Request::new(Principal::Workload(w), "x", Resource::Cluster, Ctx::at(0));
        assert!(matches!(req.principal, Principal::Workload(_)));
    }
}
