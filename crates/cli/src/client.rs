//! The API client: HTTPS with the pinned cluster CA as the only root, and
//! the login certificate as the client certificate (mTLS).

use std::sync::Arc;

use airlock_control::api::types::CaInfo;
use airlock_control::error::ErrorBody;
use anyhow::Context;
use reqwest::{Method, StatusCode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::exit::{CliError, Exit};
use crate::home::Home;

/// A client for one server.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    /// HTTP/1.1-only client for upgrades.
    http1: reqwest::Client,
    base: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_certs(pem: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let ders = airlock_ca::pem::decode_all("CERTIFICATE", pem)
        .context("the pinned CA bundle is not PEM certificates")?;
    Ok(ders.into_iter().map(CertificateDer::from).collect())
}

fn roots(ca_pem: &str) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in pem_certs(ca_pem)? {
        roots
            .add(cert)
            .context("the pinned CA certificate is unusable")?;
    }
    Ok(roots)
}

fn build(tls: rustls::ClientConfig, server: &str) -> anyhow::Result<Api> {
    let mut tls1 = tls.clone();
    tls1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(true)
        .read_timeout(std::time::Duration::from_secs(300))
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;
    let http1 = reqwest::Client::builder()
        .use_preconfigured_tls(tls1)
        .https_only(true)
        .http1_only()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;
    Ok(Api {
        http,
        http1,
        base: server.trim_end_matches('/').to_owned(),
    })
}

impl Api {
    /// A client that trusts only `ca_pem` and presents no certificate (login).
    pub fn anonymous(server: &str, ca_pem: &str) -> anyhow::Result<Self> {
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots(ca_pem)?)
            .with_no_client_auth();
        build(tls, server)
    }

    /// A client for the current login: pinned CA, login certificate.
    pub fn logged_in(home: &Home) -> anyhow::Result<Self> {
        let profile = home.require_profile()?;
        let read = |p: std::path::PathBuf| {
            std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}; run `airlock login` again", p.display()))
        };
        let ca_pem = read(home.ca_path())?;
        let cert = pem_certs(&read(home.cert_path())?)?;
        let key_pem = read(home.key_path())?;
        let key = airlock_ca::KeyPair::from_pkcs8_pem(&key_pem)
            .context("the login key is unreadable; run `airlock login` again")?;
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots(&ca_pem)?)
            .with_client_auth_cert(cert, key.private_key_der())
            .context("the login certificate does not match its key; run `airlock login` again")?;
        build(tls, &profile.server)
    }

    /// Sends a request and decodes the JSON answer, turning API errors into
    /// one-line [`CliError`]s with the matching exit code.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let bytes = self.send(method, path, body).await?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!("the server's answer to {path} is not what this client expects")
        })
    }

    /// Sends a request whose answer has no body (204).
    pub async fn call_empty<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<()> {
        self.send(method, path, body).await.map(drop)
    }

    /// GET and decode.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    /// Opens an upgraded connection (`Upgrade: airlock-stream`) on `path`:
    /// a raw byte stream for exec sessions. HTTP/1.1 only (h2 has no upgrade).
    pub async fn upgrade(&self, path: &str) -> anyhow::Result<reqwest::Upgraded> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http1
            .get(&url)
            .header(reqwest::header::CONNECTION, "upgrade")
            .header(
                reqwest::header::UPGRADE,
                airlock_control::api::EXEC_PROTOCOL,
            )
            .send()
            .await
            .map_err(|e| connect_error(&self.base, &e))?;
        let status = resp.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(api_error(status, &body).into());
        }
        resp.upgrade()
            .await
            .map_err(|e| connect_error(&self.base, &e))
    }

    /// Sends a request with a streamed body.
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        body: reqwest::Body,
    ) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .request(method, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| connect_error(&self.base, &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| connect_error(&self.base, &e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(api_error(status, &bytes).into())
    }

    /// Sends a GET and returns the response for streaming (checked for errors).
    pub async fn get_stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        self.stream(Method::GET, path, None::<&()>).await
    }

    /// Sends a request and returns the successful response for streaming.
    pub async fn stream<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .timeout(std::time::Duration::from_secs(24 * 3600));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| connect_error(&self.base, &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        Err(api_error(status, &bytes).into())
    }

    /// GET raw bytes (exports).
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        self.send::<()>(Method::GET, path, None).await
    }

    /// POST JSON and decode.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| connect_error(&self.base, &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| connect_error(&self.base, &e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(api_error(status, &bytes).into())
    }
}

fn exit_for(status: StatusCode) -> Exit {
    match status.as_u16() {
        400 | 422 => Exit::Usage,
        401 => Exit::Auth,
        403 => Exit::Denied,
        404 => Exit::NotFound,
        409 => Exit::Conflict,
        429 | 502..=504 => Exit::Unavailable,
        _ => Exit::Failure,
    }
}

fn api_error(status: StatusCode, body: &[u8]) -> CliError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| format!("server answered {status}"));
    CliError::new(exit_for(status), message)
}

/// Explains a transport failure in one line.
fn connect_error(server: &str, e: &reqwest::Error) -> anyhow::Error {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain = s.to_string();
        source = s.source();
    }
    if chain.contains("UnknownIssuer") || chain.contains("invalid peer certificate") {
        return CliError::new(
            Exit::Auth,
            format!(
                "the server at {server} does not present a certificate from the pinned cluster CA ({chain}); \
                 if the cluster was re-created, run `airlock logout --forget` and log in again"
            ),
        )
        .into();
    }
    CliError::new(
        Exit::Unavailable,
        format!("cannot reach the Airlock server at {server}: {chain}"),
    )
    .into()
}

/// Accepts any server certificate: used only to download the CA bundle on a
/// first login, whose fingerprint is then checked (against `--ca-fingerprint`)
/// or shown to the user, and every later request verifies against it.
#[derive(Debug)]
struct FirstContact(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for FirstContact {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Downloads the server's CA bundle without verifying the server (first
/// contact only; see [`FirstContact`]).
pub async fn fetch_ca_first_contact(server: &str) -> anyhow::Result<CaInfo> {
    let p = provider();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&p))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(FirstContact(p)))
        .with_no_client_auth();
    build(tls, server)?.get("/v1/ca").await
}
