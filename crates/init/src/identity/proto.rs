//! The SPIFFE Workload API messages (workload.proto of the SPIFFE project),
//! written by hand with prost's derive so the build needs no `protoc`.
//! Field numbers and types follow the upstream proto exactly; the service
//! has no proto package, so its gRPC paths are `/SpiffeWorkloadAPI/<Method>`.

use std::collections::HashMap;

/// `X509SVIDRequest {}`
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509SvidRequest {}

/// `X509SVIDResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509SvidResponse {
    /// The workload's SVIDs, the default first.
    #[prost(message, repeated, tag = "1")]
    pub svids: Vec<X509Svid>,
    /// DER CRLs (none).
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub crl: Vec<Vec<u8>>,
    /// Foreign trust domains' bundles (none).
    #[prost(map = "string, bytes", tag = "3")]
    pub federated_bundles: HashMap<String, Vec<u8>>,
}

/// `X509SVID`
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509Svid {
    /// The SPIFFE ID.
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    /// Certificate chain, DER, leaf first, concatenated.
    #[prost(bytes = "vec", tag = "2")]
    pub x509_svid: Vec<u8>,
    /// PKCS#8 DER private key.
    #[prost(bytes = "vec", tag = "3")]
    pub x509_svid_key: Vec<u8>,
    /// Trust bundle, DER certificates concatenated.
    #[prost(bytes = "vec", tag = "4")]
    pub bundle: Vec<u8>,
    /// Operator hint (unused).
    #[prost(string, tag = "5")]
    pub hint: String,
}

/// `X509BundlesRequest {}`
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509BundlesRequest {}

/// `X509BundlesResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509BundlesResponse {
    /// DER CRLs (none).
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub crl: Vec<Vec<u8>>,
    /// Trust domain → concatenated DER CA certificates.
    #[prost(map = "string, bytes", tag = "2")]
    pub bundles: HashMap<String, Vec<u8>>,
}

/// `JWTSVIDRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtSvidRequest {
    /// Audiences (Airlock issues single-audience tokens).
    #[prost(string, repeated, tag = "1")]
    pub audience: Vec<String>,
    /// Which SPIFFE ID (empty: the default).
    #[prost(string, tag = "2")]
    pub spiffe_id: String,
}

/// `JWTSVIDResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtSvidResponse {
    /// The tokens.
    #[prost(message, repeated, tag = "1")]
    pub svids: Vec<JwtSvid>,
}

/// `JWTSVID`
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtSvid {
    /// The SPIFFE ID (`sub`).
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    /// Compact JWS.
    #[prost(string, tag = "2")]
    pub svid: String,
    /// Operator hint (unused).
    #[prost(string, tag = "3")]
    pub hint: String,
}

/// `JWTBundlesRequest {}`
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtBundlesRequest {}

/// `JWTBundlesResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct JwtBundlesResponse {
    /// Trust domain → JWKS JSON.
    #[prost(map = "string, bytes", tag = "1")]
    pub bundles: HashMap<String, Vec<u8>>,
}

/// `ValidateJWTSVIDRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValidateJwtSvidRequest {
    /// Expected audience.
    #[prost(string, tag = "1")]
    pub audience: String,
    /// The token.
    #[prost(string, tag = "2")]
    pub svid: String,
}

/// `ValidateJWTSVIDResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValidateJwtSvidResponse {
    /// `sub` of the valid token.
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    /// All claims.
    #[prost(message, optional, tag = "2")]
    pub claims: Option<prost_types::Struct>,
}
