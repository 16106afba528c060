//! The Airlock Cedar schema, parsed once per process.
//!
//! One file (`cedar/airlock.cedarschema`) defines two schemas:
//! - the **user** schema, in which every action takes a `User` principal; the
//!   cluster policy set is validated against it;
//! - the **profile** schema, the same text with `principal: User` read as
//!   `principal: Workload`; delegation profiles are validated against it.
//!
//! Keeping them one text means a context or resource type can never drift
//! between what the policy set and a profile see.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{
    Entity, EntityId, EntityTypeName, EntityUid, Schema, SchemaFragment, Validator,
};

use crate::context::ContextType;

/// The schema text, as shipped (also what `airlock policy schema` can print).
pub const SCHEMA_TEXT: &str = include_str!("../cedar/airlock.cedarschema");

/// The Cedar namespace of every Airlock type.
pub const NAMESPACE: &str = "Airlock";

/// The principal declaration every action uses in the user schema; the
/// profile schema swaps it for the workload's.
const USER_PRINCIPAL: &str = "principal: User,";
const WORKLOAD_PRINCIPAL: &str = "principal: Workload,";

/// Which of the two schemas a policy set is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The cluster policy set: principals are users.
    User,
    /// A delegation profile: principals are workloads.
    Profile,
}

/// Everything derived from the schema that a decision needs, built once.
pub(crate) struct Schemas {
    user: Validator,
    profile: Validator,
    /// Action name ("http.request") to what a request needs about it.
    pub actions: HashMap<String, ActionInfo>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("actions", &self.actions.len())
            .finish_non_exhaustive()
    }
}

/// A requestable action: its uid, its entity (carrying its groups as
/// parents, so `action in Action::"sandbox.*"` works without the schema at
/// decision time) and the uids an index may have filed its policies under.
#[derive(Debug, Clone)]
pub(crate) struct ActionInfo {
    pub uid: EntityUid,
    pub entity: Entity,
    /// The action itself, then each group it belongs to.
    pub keys: Vec<EntityUid>,
    /// The one resource type it applies to.
    pub resource_type: EntityTypeName,
    /// Its context type.
    pub context: ContextType,
}

impl Schemas {
    /// The validator for policies of `kind`.
    pub fn validator(&self, kind: Kind) -> &Validator {
        match kind {
            Kind::User => &self.user,
            Kind::Profile => &self.profile,
        }
    }

    /// The schema for policies of `kind`.
    #[cfg(test)]
    pub fn schema(&self, kind: Kind) -> &Schema {
        self.validator(kind).schema()
    }
}

/// The process-wide schemas. The schema ships inside the binary and a test
/// parses it, so failing here is a build defect, not an input error.
pub(crate) fn schemas() -> &'static Schemas {
    static SCHEMAS: LazyLock<Schemas> = LazyLock::new(build);
    &SCHEMAS
}

fn build() -> Schemas {
    let user = parse(SCHEMA_TEXT);
    let profile = parse(&profile_text());
    let actions = action_infos(&user);
    Schemas {
        user: Validator::new(user),
        profile: Validator::new(profile),
        actions,
    }
}

/// The profile schema's text: the user schema with workload principals.
pub(crate) fn profile_text() -> String {
    SCHEMA_TEXT.replace(USER_PRINCIPAL, WORKLOAD_PRINCIPAL)
}

fn parse(text: &str) -> Schema {
    match Schema::from_cedarschema_str(text) {
        Ok((schema, _warnings)) => schema,
        Err(e) => panic!("the built-in Airlock schema does not parse: {e}"),
    }
}

/// Collects every action that applies to something (groups apply to nothing
/// and cannot be requested).
fn action_infos(schema: &Schema) -> HashMap<String, ActionInfo> {
    let entities = schema
        .action_entities()
        .expect("the built-in schema's actions form entities");
    let json = schema_json();
    let requestable = |a: &&EntityUid| {
        schema
            .principals_for_action(a)
            .is_some_and(|mut ps| ps.next().is_some())
    };
    schema
        .actions()
        .filter(requestable)
        .map(|uid| {
            let entity = entities
                .get(uid)
                .expect("every schema action has an entity")
                .clone();
            let mut groups: Vec<EntityUid> = entities
                .ancestors(uid)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            groups.sort();
            let mut keys = vec![uid.clone()];
            keys.extend(groups);
            let name = uid.id().unescaped().to_owned();
            let info = ActionInfo {
                uid: uid.clone(),
                entity,
                keys,
                resource_type: resource_type(schema, uid),
                context: context_type(&json, &name),
            };
            (name, info)
        })
        .collect()
}

/// The schema in Cedar's JSON form, where context types are easy to read.
fn schema_json() -> serde_json::Value {
    let (fragment, _) =
        SchemaFragment::from_cedarschema_str(SCHEMA_TEXT).expect("the built-in schema parses");
    let json = fragment
        .to_json_value()
        .expect("the schema converts to JSON");
    json[NAMESPACE].clone()
}

/// The context type of `action`: every context is a named common type.
fn context_type(ns: &serde_json::Value, action: &str) -> ContextType {
    let name = ns["actions"][action]["appliesTo"]["context"]["type"]
        .as_str()
        .unwrap_or_else(|| panic!("action {action} names its context type"));
    ContextType::from_schema_json(&ns["commonTypes"][name])
}

fn resource_type(schema: &Schema, action: &EntityUid) -> EntityTypeName {
    let mut types = schema
        .resources_for_action(action)
        .expect("a schema action")
        .cloned();
    let first = types
        .next()
        .expect("every action applies to a resource type");
    assert!(
        types.next().is_none(),
        "{action} applies to one resource type"
    );
    first
}

/// `Airlock::<name>` as a Cedar type name.
pub(crate) fn type_name(name: &str) -> EntityTypeName {
    EntityTypeName::from_str(&format!("{NAMESPACE}::{name}"))
        .expect("Airlock type names are valid Cedar names")
}

/// `Airlock::<type>::"<id>"`. Type names are parsed once: parsing one
/// costs as much as evaluating a policy.
pub(crate) fn uid(type_: &str, id: &str) -> EntityUid {
    static TYPES: LazyLock<HashMap<&'static str, EntityTypeName>> =
        LazyLock::new(|| ENTITY_TYPES.iter().map(|t| (*t, type_name(t))).collect());
    let ty = TYPES
        .get(type_)
        .unwrap_or_else(|| panic!("{type_} is not an Airlock entity type"));
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

/// Every entity type the engine builds.
const ENTITY_TYPES: &[&str] = &[
    "User",
    "Role",
    "Workload",
    "Sandbox",
    "HttpService",
    "InferenceEndpoint",
    "Egress",
    "Database",
    "McpServer",
    "McpTool",
    "Cluster",
    "AuditLog",
];
