//! `airlock login|logout|whoami`.

use airlock_control::api::types::{LoginRequest, LoginResponse, WhoAmI};
use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::cli::{JsonFlag, LoginArgs, LogoutArgs};
use crate::client::{Api, fetch_ca_first_contact};
use crate::exit::{CliError, Exit, usage};
use crate::home::{Home, Profile};
use crate::{output, password};

/// `host:port` or a URL → an https URL without a trailing slash.
fn normalize_server(s: &str) -> anyhow::Result<String> {
    let s = s.trim().trim_end_matches('/');
    if s.is_empty() {
        return Err(usage(
            "--server is empty; give a URL like https://127.0.0.1:8443",
        ));
    }
    if s.starts_with("http://") {
        return Err(usage("Airlock servers speak HTTPS only; use https://"));
    }
    if s.starts_with("https://") {
        Ok(s.to_owned())
    } else {
        Ok(format!("https://{s}"))
    }
}

/// Accepts `SHA256:AB:CD...`, `ab:cd...` or plain hex; returns plain lowercase hex.
fn normalize_fingerprint(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("SHA256:")
        .or_else(|| s.strip_prefix("sha256:"))
        .unwrap_or(s);
    s.chars()
        .filter(|c| *c != ':')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The cluster CA a login will trust.
struct TrustedCa {
    /// The CA bundle.
    pem: String,
    /// SHA-256 of the current CA certificate, hex.
    fingerprint: String,
    /// Not pinned yet: pin it once the login has succeeded, so that a
    /// mistyped password leaves nothing behind.
    first_contact: bool,
}

/// Fetches the server's CA bundle and checks it against the pin and the
/// fingerprint the user gave.
async fn trusted_ca(
    home: &Home,
    server: &str,
    expected: Option<&str>,
) -> anyhow::Result<TrustedCa> {
    let info = fetch_ca_first_contact(server).await?;
    let first = info
        .certificates
        .first()
        .context("the server sent an empty CA bundle")?;
    let der = airlock_ca::pem::decode("CERTIFICATE", first)
        .context("the server's CA certificate is not PEM")?;
    // Computed here, never taken from the server's word.
    let actual = hex::encode(Sha256::digest(&der));
    let shown = airlock_ca::format_fingerprint(&actual);
    if let Some(want) = expected
        && normalize_fingerprint(want) != actual
    {
        return Err(CliError::new(
            Exit::Auth,
            format!(
                "the server at {server} presents CA {shown}, not the --ca-fingerprint you gave; \
                 refusing to log in"
            ),
        )
        .into());
    }
    let pinned = home.pinned_ca(server)?;
    if let Some(pinned) = pinned.as_ref().filter(|p| **p != actual) {
        return Err(CliError::new(
            Exit::Auth,
            format!(
                "the server at {server} presents CA {shown}, but you pinned {} at your first login; \
                 this may be an attack. If the cluster was re-created, run `airlock logout --forget` and log in again",
                airlock_ca::format_fingerprint(pinned)
            ),
        )
        .into());
    }
    Ok(TrustedCa {
        pem: info.certificates.join(""),
        fingerprint: actual,
        first_contact: pinned.is_none(),
    })
}

#[allow(clippy::print_stderr)]
fn eprintln_first_pin(server: &str, shown: &str, verified: bool) {
    let how = if verified {
        "verified and pinned"
    } else {
        "pinned (trust on first use)"
    };
    eprintln!("First login to {server}: cluster CA {shown} {how}");
}

pub async fn login(a: LoginArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let current = home.profile()?;
    let server = match a
        .server
        .as_deref()
        .or(current.as_ref().map(|p| p.server.as_str()))
    {
        Some(s) => normalize_server(s)?,
        None => return Err(usage("which server? pass --server https://HOST:PORT")),
    };
    let user = match a.user.or(current.map(|p| p.user)) {
        Some(u) => u,
        None => return Err(usage("which user? pass --user NAME")),
    };
    let ca = trusted_ca(&home, &server, a.ca_fingerprint.as_deref()).await?;
    let password = password::read(a.password_stdin, &format!("Password for {user}: "), false)?;
    let key = airlock_ca::KeyPair::generate().context("cannot generate a key")?;
    let csr = key
        .csr_pem(&user)
        .context("cannot make a certificate request")?;
    let api = Api::anonymous(&server, &ca.pem)?;
    let resp: LoginResponse = api
        .post(
            "/v1/login",
            &LoginRequest {
                user: user.clone(),
                password,
                public_key: csr,
                ttl: a.ttl,
            },
        )
        .await?;
    let profile = Profile {
        server: server.clone(),
        user: resp.user.clone(),
        cluster: resp.cluster.clone(),
        session: resp.session.clone(),
        expires: resp.expires.clone(),
        ca_fingerprint: ca.fingerprint.clone(),
    };
    if ca.first_contact {
        let shown = airlock_ca::format_fingerprint(&ca.fingerprint);
        eprintln_first_pin(&server, &shown, a.ca_fingerprint.is_some());
        home.pin_ca(&server, &ca.fingerprint)?;
    }
    home.save_login(&profile, &key.to_pkcs8_pem(), &resp.certificate, &ca.pem)?;
    output::say(format!(
        "Logged in to {} as {} (roles: {}); certificate valid until {}",
        resp.cluster,
        resp.user,
        resp.roles.join(", "),
        resp.expires
    ));
    Ok(())
}

pub async fn logout(a: LogoutArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let profile = home.profile()?;
    let had = home.clear_login()?;
    if a.forget
        && let Some(p) = &profile
    {
        home.unpin_ca(&p.server)?;
    }
    match (had, profile) {
        (true, Some(p)) => output::say(format!("Logged out {} from {}", p.user, p.server)),
        _ => output::say("Not logged in"),
    }
    Ok(())
}

pub async fn whoami(a: JsonFlag) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let profile = home.require_profile()?;
    let me: WhoAmI = Api::logged_in(&home)?.get("/v1/whoami").await?;
    if a.json {
        return output::json(&me);
    }
    output::say(format!("user:     {}", me.user));
    output::say(format!("roles:    {}", me.roles.join(", ")));
    output::say(format!("cluster:  {} ({})", me.cluster, profile.server));
    output::say(format!("expires:  {}", me.expires));
    if let Some(s) = me.session {
        output::say(format!("session:  {s}"));
    }
    Ok(())
}
