//! The SPIFFE Workload API over gRPC on a unix socket, served with hyper's
//! HTTP/2 and tonic's gRPC machinery (no generated code, no protoc).
//!
//! Every call must carry the `workload.spiffe.io: true` metadata, as the
//! spec requires, so that a browser or SSRF cannot reach the API by accident.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_wire::Control;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::server::Grpc;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use tower::service_fn;

use super::proto::*;
use super::{Svid, jwt};
use crate::init::Ctx;

type GrpcStream<T> = ReceiverStream<Result<T, Status>>;
/// How often a FetchJWTBundles stream re-checks the keys.
const JWKS_POLL: Duration = Duration::from_secs(60);

/// Serves the Workload API on `path` (any local process may connect).
pub async fn serve(ctx: Arc<Ctx>, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
    tracing::info!(path = %path.display(), "SPIFFE Workload API listening");
    loop {
        let (conn, _) = listener.accept().await?;
        let svc = TowerToHyperService::new(WorkloadApi { ctx: ctx.clone() });
        tokio::spawn(async move {
            let http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            if let Err(e) = http2.serve_connection(TokioIo::new(conn), svc).await {
                tracing::debug!(error = %e, "workload API connection ended");
            }
        });
    }
}

/// The gRPC service: routes by path to the five methods.
#[derive(Clone)]
struct WorkloadApi {
    ctx: Arc<Ctx>,
}

impl tower::Service<http::Request<Incoming>> for WorkloadApi {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let ctx = self.ctx.clone();
        Box::pin(async move { Ok(route(ctx, req).await) })
    }
}

async fn route(ctx: Arc<Ctx>, req: http::Request<Incoming>) -> http::Response<Body> {
    match req.uri().path() {
        "/SpiffeWorkloadAPI/FetchX509SVID" => {
            let svc = service_fn(move |r| fetch_x509_svid(ctx.clone(), r));
            Grpc::new(ProstCodec::<X509SvidResponse, X509SvidRequest>::default())
                .server_streaming(svc, req)
                .await
        }
        "/SpiffeWorkloadAPI/FetchX509Bundles" => {
            let svc = service_fn(move |r| fetch_x509_bundles(ctx.clone(), r));
            Grpc::new(ProstCodec::<X509BundlesResponse, X509BundlesRequest>::default())
                .server_streaming(svc, req)
                .await
        }
        "/SpiffeWorkloadAPI/FetchJWTSVID" => {
            let svc = service_fn(move |r| fetch_jwt_svid(ctx.clone(), r));
            Grpc::new(ProstCodec::<JwtSvidResponse, JwtSvidRequest>::default())
                .unary(svc, req)
                .await
        }
        "/SpiffeWorkloadAPI/FetchJWTBundles" => {
            let svc = service_fn(move |r| fetch_jwt_bundles(ctx.clone(), r));
            Grpc::new(ProstCodec::<JwtBundlesResponse, JwtBundlesRequest>::default())
                .server_streaming(svc, req)
                .await
        }
        "/SpiffeWorkloadAPI/ValidateJWTSVID" => {
            let svc = service_fn(move |r| validate_jwt_svid(ctx.clone(), r));
            Grpc::new(ProstCodec::<ValidateJwtSvidResponse, ValidateJwtSvidRequest>::default())
                .unary(svc, req)
                .await
        }
        _ => Status::unimplemented("unknown method").into_http(),
    }
}

/// The spec's guard against calls that did not mean to reach this API.
fn check_header<T>(req: &Request<T>) -> Result<(), Status> {
    match req.metadata().get("workload.spiffe.io") {
        Some(v) if v == "true" => Ok(()),
        _ => Err(Status::invalid_argument(
            "security header missing from request",
        )),
    }
}

/// Streams the SVID now (once there is one) and again at every rotation.
async fn fetch_x509_svid(
    ctx: Arc<Ctx>,
    req: Request<X509SvidRequest>,
) -> Result<Response<GrpcStream<X509SvidResponse>>, Status> {
    check_header(&req)?;
    Ok(Response::new(watch_svid(&ctx, |svid| X509SvidResponse {
        svids: vec![X509Svid {
            spiffe_id: svid.spiffe_id.clone(),
            x509_svid: svid.chain.concat(),
            x509_svid_key: svid.key_pkcs8.clone(),
            bundle: svid.bundle.concat(),
            hint: String::new(),
        }],
        crl: Vec::new(),
        federated_bundles: HashMap::new(),
    })))
}

async fn fetch_x509_bundles(
    ctx: Arc<Ctx>,
    req: Request<X509BundlesRequest>,
) -> Result<Response<GrpcStream<X509BundlesResponse>>, Status> {
    check_header(&req)?;
    Ok(Response::new(watch_svid(&ctx, |svid| {
        X509BundlesResponse {
            crl: Vec::new(),
            bundles: HashMap::from([(svid.trust_domain_id(), svid.bundle.concat())]),
        }
    })))
}

/// A stream that yields `make(svid)` for the current SVID and every later
/// one, until the client goes away.
fn watch_svid<T: Send + 'static>(
    ctx: &Ctx,
    make: impl Fn(&Svid) -> T + Send + 'static,
) -> GrpcStream<T> {
    let mut rx = ctx.identity.subscribe();
    let (tx, out) = mpsc::channel(2);
    tokio::spawn(async move {
        loop {
            let item = rx.borrow_and_update().as_deref().map(&make);
            if let Some(item) = item
                && tx.send(Ok(item)).await.is_err()
            {
                return;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
            }
        }
    });
    ReceiverStream::new(out)
}

async fn fetch_jwt_svid(
    ctx: Arc<Ctx>,
    req: Request<JwtSvidRequest>,
) -> Result<Response<JwtSvidResponse>, Status> {
    check_header(&req)?;
    let req = req.into_inner();
    let [audience] = req.audience.as_slice() else {
        return Err(Status::invalid_argument(
            "exactly one audience is required (Airlock issues single-audience JWT-SVIDs)",
        ));
    };
    let msg = Control::JwtRequest {
        audience: audience.clone(),
        ttl_secs: None,
    };
    match ctx.link.request(&msg).await.map_err(Status::unavailable)? {
        Control::JwtResponse { spiffe_id, token } => {
            if !req.spiffe_id.is_empty() && req.spiffe_id != spiffe_id {
                return Err(Status::permission_denied("not entitled to that SPIFFE ID"));
            }
            Ok(Response::new(JwtSvidResponse {
                svids: vec![JwtSvid {
                    spiffe_id,
                    svid: token,
                    hint: String::new(),
                }],
            }))
        }
        other => Err(Status::internal(format!("unexpected answer: {other:?}"))),
    }
}

/// The JWT signing keys, from the host: (trust domain id, JWKS text).
async fn jwks(ctx: &Ctx) -> Result<(String, String), Status> {
    match ctx
        .link
        .request(&Control::JwtBundleRequest)
        .await
        .map_err(Status::unavailable)?
    {
        Control::JwtBundleResponse { trust_domain, jwks } => {
            let td = trust_domain.trim_start_matches("spiffe://");
            Ok((format!("spiffe://{td}"), jwks))
        }
        other => Err(Status::internal(format!("unexpected answer: {other:?}"))),
    }
}

async fn fetch_jwt_bundles(
    ctx: Arc<Ctx>,
    req: Request<JwtBundlesRequest>,
) -> Result<Response<GrpcStream<JwtBundlesResponse>>, Status> {
    check_header(&req)?;
    let first = jwks(&ctx).await?;
    let (tx, out) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut last = None;
        let mut next = Ok(first);
        loop {
            if let Ok(bundle) = next
                && last.as_ref() != Some(&bundle)
            {
                let msg = JwtBundlesResponse {
                    bundles: HashMap::from([(bundle.0.clone(), bundle.1.clone().into_bytes())]),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
                last = Some(bundle);
            }
            tokio::select! {
                _ = tokio::time::sleep(JWKS_POLL) => {}
                _ = tx.closed() => return,
            }
            next = jwks(&ctx).await;
        }
    });
    Ok(Response::new(ReceiverStream::new(out)))
}

async fn validate_jwt_svid(
    ctx: Arc<Ctx>,
    req: Request<ValidateJwtSvidRequest>,
) -> Result<Response<ValidateJwtSvidResponse>, Status> {
    check_header(&req)?;
    let req = req.into_inner();
    if req.audience.is_empty() || req.svid.is_empty() {
        return Err(Status::invalid_argument("audience and svid are required"));
    }
    let (_, text) = jwks(&ctx).await?;
    let keys: serde_json::Value = serde_json::from_str(&text)
        .map_err(|_| Status::internal("the host sent a malformed JWKS"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let valid = airlock_ca::validate_jwt_svid(&req.svid, &req.audience, &keys, now)
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(Response::new(ValidateJwtSvidResponse {
        spiffe_id: valid.spiffe_id,
        claims: Some(jwt::to_struct(valid.claims)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_security_header_is_required() {
        let mut req = Request::new(());
        assert_eq!(
            check_header(&req).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        req.metadata_mut()
            .insert("workload.spiffe.io", "false".parse().unwrap());
        assert!(check_header(&req).is_err());
        req.metadata_mut()
            .insert("workload.spiffe.io", "true".parse().unwrap());
        assert!(check_header(&req).is_ok());
    }
}
