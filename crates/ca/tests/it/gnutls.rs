//! GnuTLS (through `certtool`) reads every kind of certificate we issue.
//! GnuTLS holds OID arcs in a machine word, so this pins that the identity
//! extension's arc stays parseable by it (Debian's git and other GnuTLS
//! clients would otherwise reject the whole certificate).

use std::io::Write;
use std::process::{Command, Stdio};

use airlock_core::SpiffeId;

use crate::util::*;

fn certtool_reads(pem: &str) -> String {
    let mut child = Command::new("certtool")
        .args(["--certificate-info", "--no-text"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("certtool (Debian package gnutls-bin)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "certtool refused the certificate: {text}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn gnutls_parses_the_ca_user_svid_and_server_certificates() {
    let ca = ca();
    certtool_reads(&ca.cert_pem());
    let user = ca.issue_user(&key(), &alice(), hours(1), t0()).unwrap();
    certtool_reads(&user.pem);
    let id = SpiffeId::workload(&td(), &sandbox());
    let svid = ca
        .issue_svid(&key(), &id, &workload(), hours(1), t0())
        .unwrap();
    certtool_reads(&svid.pem);
    let server = ca
        .issue_server(
            &key(),
            &["localhost".into()],
            &[],
            &server_claims(),
            hours(1),
            t0(),
        )
        .unwrap();
    certtool_reads(&server.pem);
}
