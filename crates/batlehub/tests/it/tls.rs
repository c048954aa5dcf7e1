//! Native HTTPS: `[server] tls_cert_file` / `tls_key_file` serve TLS (URLs
//! the server writes say https), a certificate is replaced in place when
//! its files change, and a pair that does not match is refused by the
//! configuration check.

use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::support::builder::Reg;
use crate::support::npm::publish;
use crate::support::{ALICE, TestServer, config};

/// A throwaway CA's PEM, and a certificate for 127.0.0.1 it signed with its key.
fn pems(name: &str) -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, name);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("cert");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn trusting(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca pem");
    reqwest::Client::builder().add_root_certificate(ca).build().expect("client")
}

async fn ok(c: &reqwest::Client, url: &str) -> bool {
    c.get(url).send().await.map(|r| r.status() == 200).unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_replaced_when_its_files_change() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (ca1, cert1, key1) = pems("first CA");
    std::fs::write(&cert_path, &cert1).expect("cert");
    std::fs::write(&key_path, &key1).expect("key");
    let tls_lines =
        format!("port = 0\ntls_cert_file = {:?}\ntls_key_file = {:?}\n", cert_path.display(), key_path.display());
    let toml = config(&Reg::local("npm", "npm").toml()).replacen("port = 0\n", &tls_lines, 1);
    let s = TestServer::start(&toml).await;
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let first = trusting(&ca1);
    assert!(ok(&first, &format!("{}/livez", s.url)).await, "HTTPS with the configured certificate");
    // What the server writes names it over https.
    assert_eq!(publish(&first, &s.reg("npm"), ALICE, "over-tls", "1.0.0").await.0, 201);
    let doc: serde_json::Value = first
        .get(format!("{}/over-tls", s.reg("npm")))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let tarball = doc["versions"]["1.0.0"]["dist"]["tarball"].as_str().expect("tarball").to_string();
    assert!(tarball.starts_with(&format!("{}/proxy/npm/", s.url)), "{tarball}");
    // Plain HTTP on the port is no request at all.
    let plain = s.url.replacen("https://", "http://", 1);
    assert!(!ok(&reqwest::Client::new(), &format!("{plain}/livez")).await);

    // A new certificate from another CA, written over the files: served
    // within the reload check, without a restart.
    let (ca2, cert2, key2) = pems("second CA");
    std::fs::write(&key_path, &key2).expect("key");
    std::fs::write(&cert_path, &cert2).expect("cert");
    let deadline = Instant::now() + batlehub::tls::RELOAD_CHECK + Duration::from_secs(5);
    while !ok(&trusting(&ca2), &format!("{}/livez", s.url)).await {
        assert!(Instant::now() < deadline, "the new certificate was not served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!ok(&trusting(&ca1), &format!("{}/livez", s.url)).await, "the old certificate is still served");
}

#[test]
fn certificate_files_are_checked_with_the_configuration() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, cert1, _) = pems("one");
    let (_, _, key2) = pems("two");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert1).expect("cert");
    std::fs::write(&key_path, key2).expect("key");
    let with = |lines: &str| {
        let toml = config(&Reg::local("npm", "npm").toml()).replacen("port = 0\n", &format!("port = 0\n{lines}"), 1);
        let text = toml.replace("{DATA}", &dir.path().display().to_string());
        batlehub::ecosystems::parse_config(&text).err().map(|e| e.to_string()).unwrap_or_default()
    };
    let mismatch = with(&format!("tls_cert_file = {:?}\ntls_key_file = {:?}\n", cert_path, key_path));
    assert!(mismatch.contains("does not match"), "{mismatch}");
    let alone = with(&format!("tls_cert_file = {:?}\n", cert_path));
    assert!(alone.contains("go together"), "{alone}");
    let missing = with(&format!("tls_cert_file = {:?}\ntls_key_file = {:?}\n", dir.path().join("no.pem"), key_path));
    assert!(missing.contains("no.pem"), "{missing}");
}
