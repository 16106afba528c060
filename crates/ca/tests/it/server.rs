//! Server certificates for the control plane and proxy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use airlock_ca::CaError;
use x509_parser::prelude::GeneralName;

use crate::util::*;

fn names() -> (Vec<String>, Vec<IpAddr>) {
    (
        vec!["airlock.example.com".into(), "localhost".into()],
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
    )
}

#[test]
fn sans_and_usages() {
    let ca = ca();
    let (dns, ips) = names();
    let issued = ca
        .issue_server(&key(), &dns, &ips, &server_claims(), hours(24), t0())
        .unwrap();
    let cert = parse(&issued.der);
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(
        !san.critical,
        "subject is not empty, so the SAN need not be critical"
    );
    let got: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("dns:{d}"),
            GeneralName::IPAddress(b) => format!("ip:{}", hex::encode(b)),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            "dns:airlock.example.com",
            "dns:localhost",
            "ip:7f000001",
            "ip:00000000000000000000000000000001"
        ]
    );
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), "airlock.example.com");
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    let v = ca.verify(&issued.der, t0()).unwrap();
    assert_eq!(v.claims.kind, airlock_core::SubjectKind::Server);
}

#[test]
fn ip_only_server_uses_the_ip_as_cn() {
    let issued = ca()
        .issue_server(
            &key(),
            &[],
            &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
            &server_claims(),
            hours(1),
            t0(),
        )
        .unwrap();
    let cert = parse(&issued.der);
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), "10.0.0.1");
}

#[test]
fn refusals() {
    let ca = ca();
    let err = ca
        .issue_server(&key(), &[], &[], &server_claims(), hours(1), t0())
        .unwrap_err();
    assert!(matches!(err, CaError::NoServerNames));
    let err = ca
        .issue_server(
            &key(),
            &["bad name".into()],
            &[],
            &server_claims(),
            hours(1),
            t0(),
        )
        .unwrap_err();
    assert!(
        err.to_string().starts_with("invalid DNS name \"bad name\""),
        "{err}"
    );
    let (dns, ips) = names();
    let err = ca
        .issue_server(&key(), &dns, &ips, &alice(), hours(1), t0())
        .unwrap_err();
    assert!(matches!(err, CaError::WrongKind { .. }));
}

#[test]
fn openssl_verifies_hostname_and_ip() {
    let now = SystemTime::now();
    let ca = ca_at(now);
    let (dns, ips) = names();
    let issued = ca
        .issue_server(&key(), &dns, &ips, &server_claims(), hours(1), now)
        .unwrap();
    let ossl = Openssl::new();
    ossl.write("ca.pem", &ca.cert_pem());
    ossl.write("leaf.pem", &issued.pem);
    let base = ["verify", "-CAfile", "ca.pem", "-purpose", "sslserver"];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        args.push("leaf.pem");
        ossl.run(&args)
    };
    assert!(with(&["-verify_hostname", "localhost"]).0);
    assert!(with(&["-verify_ip", "127.0.0.1"]).0);
    assert!(with(&["-verify_ip", "::1"]).0);
    assert!(!with(&["-verify_hostname", "evil.example.com"]).0);
    let text = ossl.text(&issued.pem);
    assert!(
        text.contains(
            "DNS:airlock.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
        ),
        "{text}"
    );
}
