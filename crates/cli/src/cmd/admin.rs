//! `airlock admin user|role|lock`.

use std::collections::BTreeMap;

use airlock_control::api::types::{AddLockRequest, AddUserRequest, LockInfo, RoleInfo, UserInfo};
use reqwest::Method;

use crate::cli::{AdminCommand, LockAddArgs, LockCommand, RoleCommand, UserAddArgs, UserCommand};
use crate::client::Api;
use crate::exit::usage;
use crate::home::Home;
use crate::{output, password};

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    let api = Api::logged_in(&Home::from_env()?)?;
    match cmd {
        AdminCommand::User(c) => user(&api, c).await,
        AdminCommand::Role(RoleCommand::Ls(f)) => roles(&api, f.json).await,
        AdminCommand::Role(RoleCommand::Set {
            name,
            description,
            max_ttl,
            max_sandbox_ttl,
        }) => {
            let body = airlock_control::api::types::SetRoleRequest {
                description,
                max_ttl,
                max_sandbox_ttl,
            };
            let path = format!("/v1/roles/{}", segment(&name)?);
            let r: RoleInfo = api.call(Method::PUT, &path, Some(&body)).await?;
            output::say(format!(
                "Role {} (logins up to {}, sandboxes up to {})",
                r.name, r.max_ttl, r.max_sandbox_ttl
            ));
            Ok(())
        }
        AdminCommand::Lock(c) => lock(&api, c).await,
        AdminCommand::Policy(c) => super::policy::admin_policy(&api, c).await,
        AdminCommand::Profile(c) => super::policy::profile(&api, c).await,
        AdminCommand::Secret(c) => super::policy::secret(&api, c).await,
        AdminCommand::Resource(c) => super::policy::resource(&api, c).await,
    }
}

/// Path segments come from the command line; keep them to one segment.
pub fn segment(s: &str) -> anyhow::Result<&str> {
    if s.is_empty() || s.contains(['/', '?', '#', '%']) {
        return Err(usage(format!("{s:?} is not a valid name")));
    }
    Ok(s)
}

fn parse_traits(raw: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut traits: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in raw {
        let (k, v) = t
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| usage(format!("--trait {t:?}: write KEY=VALUE")))?;
        traits.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    Ok(traits)
}

async fn user(api: &Api, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add(a) => add_user(api, a).await,
        UserCommand::Ls(f) => {
            let users: Vec<UserInfo> = api.get("/v1/users").await?;
            if f.json {
                return output::json(&users);
            }
            let rows = users
                .iter()
                .map(|u| vec![u.name.clone(), u.roles.join(","), u.created.clone()])
                .collect::<Vec<_>>();
            output::table(&["NAME", "ROLES", "CREATED"], &rows);
            Ok(())
        }
        UserCommand::Rm { name } => {
            let path = format!("/v1/users/{}", segment(&name)?);
            api.call_empty::<()>(Method::DELETE, &path, None).await?;
            output::say(format!("Removed user {name}"));
            Ok(())
        }
    }
}

async fn add_user(api: &Api, a: UserAddArgs) -> anyhow::Result<()> {
    let traits = parse_traits(&a.traits)?;
    let password = password::read(
        a.password_stdin,
        &format!("Password for {}: ", a.name),
        true,
    )?;
    let user: UserInfo = api
        .post(
            "/v1/users",
            &AddUserRequest {
                name: a.name,
                roles: a.roles,
                password,
                traits,
            },
        )
        .await?;
    output::say(format!(
        "Added user {} (roles: {})",
        user.name,
        user.roles.join(", ")
    ));
    Ok(())
}

async fn roles(api: &Api, json: bool) -> anyhow::Result<()> {
    let roles: Vec<RoleInfo> = api.get("/v1/roles").await?;
    if json {
        return output::json(&roles);
    }
    let rows = roles
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.max_ttl.clone(),
                r.max_sandbox_ttl.clone(),
                r.description.clone(),
            ]
        })
        .collect::<Vec<_>>();
    output::table(&["NAME", "MAX LOGIN", "MAX SANDBOX", "DESCRIPTION"], &rows);
    Ok(())
}

async fn lock(api: &Api, cmd: LockCommand) -> anyhow::Result<()> {
    match cmd {
        LockCommand::Add(a) => add_lock(api, a).await,
        LockCommand::Ls { all, json } => {
            let path = if all {
                "/v1/locks?all=true"
            } else {
                "/v1/locks"
            };
            let locks: Vec<LockInfo> = api.get(path).await?;
            if json {
                return output::json(&locks);
            }
            let rows = locks
                .iter()
                .map(|l| {
                    vec![
                        l.id.clone(),
                        format!("{} {}", l.kind, l.name),
                        l.expires.clone().unwrap_or_else(|| "never".into()),
                        if l.active { "active" } else { "lapsed" }.into(),
                        l.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(&["ID", "TARGET", "EXPIRES", "STATE", "REASON"], &rows);
            Ok(())
        }
        LockCommand::Rm { id } => {
            let path = format!("/v1/locks/{}", segment(&id)?);
            api.call_empty::<()>(Method::DELETE, &path, None).await?;
            output::say(format!("Removed lock {id}"));
            Ok(())
        }
    }
}

async fn add_lock(api: &Api, a: LockAddArgs) -> anyhow::Result<()> {
    let (kind, name) = match (a.user, a.sandbox, a.session) {
        (Some(u), _, _) => ("user", u),
        (_, Some(s), _) => ("sandbox", s),
        (_, _, Some(s)) => ("session", s),
        _ => return Err(usage("name what to lock: --user, --sandbox or --session")),
    };
    let lock: LockInfo = api
        .post(
            "/v1/locks",
            &AddLockRequest {
                kind: kind.into(),
                name,
                ttl: a.ttl,
                reason: a.reason,
            },
        )
        .await?;
    output::say(format!(
        "Locked {} {} ({}), until {}",
        lock.kind,
        lock.name,
        lock.id,
        lock.expires.as_deref().unwrap_or("removed")
    ));
    Ok(())
}
