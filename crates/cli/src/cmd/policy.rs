//! `airlock admin policy|profile|secret|resource` and `airlock policy check`.

use std::path::Path;

use airlock_control::api::{
    AddResourceRequest, CheckRequest, PolicyBody, PolicyFileBody, ProfileBody, ResourceInfo,
    SecretInfo, SetSecretRequest,
};
use airlock_control::egress::resources::{HeaderTemplate, ResourceSpec};
use anyhow::Context;
use reqwest::Method;

use super::admin::segment;
use crate::cli::{
    AdminPolicyCommand, JsonFlag, PolicyCheckArgs, PolicyCommand, ProfileCommand, ResourceAdd,
    ResourceCommand, SecretCommand,
};
use crate::client::Api;
use crate::exit::usage;
use crate::home::Home;
use crate::output;

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A .cedar file, or every policy and examples file in a directory.
fn policy_files(path: &Path) -> anyhow::Result<Vec<PolicyFileBody>> {
    let name = |p: &Path| {
        p.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    if !path.is_dir() {
        return Ok(vec![PolicyFileBody {
            name: name(path),
            text: read(path)?,
        }]);
    }
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "cedar" || e == "toml" || e == "json")
        })
        .collect();
    entries.sort();
    for p in entries {
        files.push(PolicyFileBody {
            name: name(&p),
            text: read(&p)?,
        });
    }
    if !files.iter().any(|f| f.name.ends_with(".cedar")) {
        return Err(usage(format!("{} has no .cedar files", path.display())));
    }
    Ok(files)
}

pub async fn admin_policy(api: &Api, cmd: AdminPolicyCommand) -> anyhow::Result<()> {
    let (files, what) = match cmd {
        AdminPolicyCommand::Get(JsonFlag { json }) => {
            let body: PolicyBody = api.get("/v1/policy").await?;
            if json {
                return output::json(&body);
            }
            for f in &body.files {
                output::say(format!("// ---- {} ----", f.name));
                output::say(&f.text);
            }
            return Ok(());
        }
        AdminPolicyCommand::Set { path } => (policy_files(&path)?, path.display().to_string()),
        AdminPolicyCommand::Reset => (Vec::new(), "the starter set".into()),
    };
    let body = PolicyBody {
        files,
        policies: Vec::new(),
        starter: false,
    };
    let active: PolicyBody = api.call(Method::PUT, "/v1/policy", Some(&body)).await?;
    output::say(format!(
        "Policy set from {what} is in force: {} policies ({})",
        active.policies.len(),
        active.policies.join(", ")
    ));
    Ok(())
}

pub async fn check(cmd: PolicyCommand) -> anyhow::Result<()> {
    let PolicyCommand::Check(a) = cmd;
    check_one(a).await
}

async fn check_one(a: PolicyCheckArgs) -> anyhow::Result<()> {
    let context = match a.context.as_deref() {
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(usage(
                    "--context must be a JSON object, e.g. '{\"method\":\"GET\"}'",
                ));
            }
        },
        None => serde_json::Map::new(),
    };
    let api = Api::logged_in(&Home::from_env()?)?;
    let req = CheckRequest {
        user: a.user,
        sandbox: a.sandbox,
        action: a.action,
        resource: a.resource,
        context,
    };
    let v: serde_json::Value = api.post("/v1/policy/check", &req).await?;
    if a.json {
        return output::json(&v);
    }
    output::say(v["text"].as_str().unwrap_or_default().trim_end());
    Ok(())
}

pub async fn profile(api: &Api, cmd: ProfileCommand) -> anyhow::Result<()> {
    match cmd {
        ProfileCommand::Set { name, file } => {
            let path = format!("/v1/profiles/{}", segment(&name)?);
            let body = ProfileBody { text: read(&file)? };
            api.call_empty(Method::PUT, &path, Some(&body)).await?;
            output::say(format!("Profile {name} is in force"));
        }
        ProfileCommand::Ls(JsonFlag { json }) => {
            let list: Vec<serde_json::Value> = api.get("/v1/profiles").await?;
            if json {
                return output::json(&list);
            }
            for p in list {
                output::say(p["name"].as_str().unwrap_or_default());
            }
        }
        ProfileCommand::Rm { name } => {
            let path = format!("/v1/profiles/{}", segment(&name)?);
            api.call_empty::<()>(Method::DELETE, &path, None).await?;
            output::say(format!("Removed profile {name}"));
        }
    }
    Ok(())
}

pub async fn secret(api: &Api, cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Set { name, value_stdin } => {
            let value = if value_stdin {
                let mut v = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut v)?;
                v.trim_end_matches(['\n', '\r']).to_owned()
            } else {
                crate::password::read(false, &format!("Value of {name}: "), false)?
            };
            if value.is_empty() {
                return Err(usage("the secret value is empty"));
            }
            let path = format!("/v1/secrets/{}", segment(&name)?);
            api.call_empty(Method::PUT, &path, Some(&SetSecretRequest { value }))
                .await?;
            output::say(format!("Secret {name} set"));
        }
        SecretCommand::Ls(JsonFlag { json }) => {
            let list: Vec<SecretInfo> = api.get("/v1/secrets").await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| vec![s.name.clone(), s.updated.clone()])
                .collect();
            output::table(&["NAME", "UPDATED"], &rows);
        }
        SecretCommand::Rm { name } => {
            let path = format!("/v1/secrets/{}", segment(&name)?);
            api.call_empty::<()>(Method::DELETE, &path, None).await?;
            output::say(format!("Removed secret {name}"));
        }
    }
    Ok(())
}

pub async fn resource(api: &Api, cmd: ResourceCommand) -> anyhow::Result<()> {
    match cmd {
        ResourceCommand::Add(add) => {
            let (name, spec) = resource_spec(add)?;
            let r: ResourceInfo = api
                .post("/v1/resources", &AddResourceRequest { name, spec })
                .await?;
            output::say(format!("Registered {} resource {}", r.kind, r.name));
        }
        ResourceCommand::Ls(JsonFlag { json }) => {
            let list: Vec<ResourceInfo> = api.get("/v1/resources").await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.kind.clone(),
                        r.spec["url"].as_str().unwrap_or_default().to_owned(),
                        r.spec["provider"].as_str().unwrap_or_default().to_owned(),
                    ]
                })
                .collect();
            output::table(&["NAME", "KIND", "URL", "PROVIDER"], &rows);
        }
        ResourceCommand::Rm { name } => {
            let path = format!("/v1/resources/{}", segment(&name)?);
            api.call_empty::<()>(Method::DELETE, &path, None).await?;
            output::say(format!("Removed resource {name}"));
        }
    }
    Ok(())
}

fn resource_spec(add: ResourceAdd) -> anyhow::Result<(String, ResourceSpec)> {
    let ca = |f: Option<std::path::PathBuf>| f.map(|p| read(&p)).transpose();
    Ok(match add {
        ResourceAdd::Http {
            name,
            url,
            inject_headers,
            ca_file,
        } => {
            let inject_headers = inject_headers
                .iter()
                .map(|h| HeaderTemplate::parse(h).map_err(usage))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (
                name,
                ResourceSpec::Http {
                    url,
                    inject_headers,
                    ca_pem: ca(ca_file)?,
                },
            )
        }
        ResourceAdd::Inference {
            name,
            kind,
            url,
            secret,
            models,
            rpm,
            tokens_per_day,
            log_bodies,
            ca_file,
        } => (
            name,
            ResourceSpec::Inference {
                provider: kind,
                url,
                secret,
                models: models.into_iter().filter(|m| !m.is_empty()).collect(),
                requests_per_minute: rpm,
                tokens_per_day,
                log_bodies,
                ca_pem: ca(ca_file)?,
            },
        ),
    })
}
