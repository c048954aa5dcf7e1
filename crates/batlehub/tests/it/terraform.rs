//! Terraform in process: service discovery (per registry and at the host
//! root), private modules and providers (uploads, 409s, versions,
//! downloads, signed links, `SHA256SUMS` and its OpenPGP signature), yank,
//! the network mirror protocol, and a proxy of an upstream registry
//! (download documents pointed at BatleHub, checksums and signatures passed
//! through byte for byte, module locations resolved).

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use serde_json::Value;
use sha2::Digest;

use crate::support::builder::Reg;
use crate::support::terraform::{FakeRegistry, module_tgz, post_module, provider_zip, put_provider};
use crate::support::{ALICE, BOB, TestServer, client, config};

async fn get(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("get");
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.bytes().await.expect("body").to_vec())
}

async fn get_json(c: &reqwest::Client, url: &str, token: Option<&str>) -> Value {
    let (status, _, body) = get(c, url, token).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("json")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

#[tokio::test]
async fn discovery_per_registry_and_at_the_host_root() {
    let toml = config(&Reg::local("terraform", "tf").toml());
    let s = TestServer::start(&toml.replacen("port = 0\n", "port = 0\nwell_known_registry = \"tf\"\n", 1)).await;
    let c = client();
    for url in [format!("{}/.well-known/terraform.json", s.reg("tf")), format!("{}/.well-known/terraform.json", s.url)]
    {
        // Anonymous: Terraform reads discovery before it sends credentials.
        let doc = get_json(&c, &url, None).await;
        assert_eq!(doc["modules.v1"], format!("{}/v1/modules/", s.reg("tf")), "{url}");
        assert_eq!(doc["providers.v1"], format!("{}/v1/providers/", s.reg("tf")), "{url}");
    }
    // Without the setting the host root has no discovery.
    let plain = TestServer::with(&[Reg::local("terraform", "tf")], "").await;
    assert_eq!(get(&c, &format!("{}/.well-known/terraform.json", plain.url), None).await.0, 404);
    // The setting must name a registry.
    let err = batlehub::ecosystems::parse_config("[server]\nwell_known_registry = \"nope\"\n").expect_err("invalid");
    assert!(err.to_string().contains("well_known_registry `nope` is not a registry"), "{err}");
}

#[tokio::test]
async fn private_modules_publish_download_and_yank() {
    let s = TestServer::with(&[Reg::local("terraform", "tf")], "").await;
    let (c, reg) = (client(), s.reg("tf"));
    let tgz = module_tgz("1.0.0");
    let r = post_module(&c, &reg, Some(ALICE), "my-org/network/aws", "1.0.0", tgz.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // PUT works too, and a version is published once.
    let r = c.put(format!("{reg}/v1/modules/my-org/network/aws/1.1.0")).bearer_auth(ALICE).body(module_tgz("1.1.0"));
    assert_eq!(r.send().await.expect("put").status(), 201);
    let r = post_module(&c, &reg, Some(ALICE), "my-org/network/aws", "1.0.0", tgz.clone()).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert!(v["errors"][0].as_str().expect("message").contains("already published"), "{v}");
    // Another user cannot publish into it.
    let r = post_module(&c, &reg, Some(BOB), "my-org/network/aws", "2.0.0", module_tgz("2.0.0")).await;
    assert_eq!(r.status, 403, "{}", r.body);

    let doc = get_json(&c, &format!("{reg}/v1/modules/My-Org/network/aws/versions"), Some(BOB)).await;
    let versions: Vec<&str> = doc["modules"][0]["versions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["version"].as_str().expect("v"))
        .collect();
    assert_eq!(versions, vec!["1.1.0", "1.0.0"]);

    // The download is a 204 with a signed link that needs no credentials.
    let r = no_redirects()
        .get(format!("{reg}/v1/modules/my-org/network/aws/1.0.0/download"))
        .bearer_auth(BOB)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 204);
    let link = r.headers()["x-terraform-get"].to_str().expect("header").to_string();
    assert!(link.starts_with(&format!("{reg}/v1/modules/my-org/network/aws/1.0.0/archive.tar.gz?grant=")), "{link}");
    let (status, _, body) = get(&c, &link, None).await;
    assert_eq!((status, body), (200, tgz.clone()));
    // Without the link: credentials are needed; a forged or another
    // path's link is no link.
    let plain = format!("{reg}/v1/modules/my-org/network/aws/1.0.0/archive.tar.gz");
    assert_eq!(get(&c, &plain, None).await.0, 401);
    assert_eq!(get(&c, &plain, Some(BOB)).await.0, 200);
    let last = if link.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &link[..link.len() - 1]);
    assert_eq!(get(&c, &forged, None).await.0, 401, "{forged}");
    let grant = link.split_once('?').expect("query").1;
    let other = format!("{reg}/v1/modules/my-org/network/aws/1.1.0/archive.tar.gz?{grant}");
    assert_eq!(get(&c, &other, None).await.0, 401);
    let (status, _, body) = get(&c, &format!("{plain}?grant=1.00"), None).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("expired"));

    // Yanked: gone from the versions, its archive still there.
    let r =
        c.delete(format!("{reg}/v1/modules/my-org/network/aws/1.0.0")).bearer_auth(ALICE).send().await.expect("yank");
    assert_eq!(r.status(), 200);
    let doc = get_json(&c, &format!("{reg}/v1/modules/my-org/network/aws/versions"), Some(BOB)).await;
    assert_eq!(doc["modules"][0]["versions"].as_array().expect("list").len(), 1, "{doc}");
    assert_eq!(get(&c, &plain, Some(BOB)).await.0, 200);
}

#[tokio::test]
async fn private_providers_are_signed_and_mirrored() {
    let s = TestServer::with(&[Reg::local("terraform", "tf")], "").await;
    let (c, reg) = (client(), s.reg("tf"));
    let linux = provider_zip("mytool", "1.0.0");
    let darwin = provider_zip("mytool", "1.0.0");
    let r = c
        .put(format!("{reg}/v1/providers/my-org/mytool/1.0.0/linux/amd64?protocols=5.0,6.0"))
        .bearer_auth(ALICE)
        .body(linux.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    let r = put_provider(&c, &reg, Some(ALICE), "my-org/mytool", "1.0.0", "darwin_arm64", darwin.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = put_provider(&c, &reg, Some(ALICE), "my-org/mytool", "1.0.0", "linux_amd64", linux.clone()).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("already has a package for linux_amd64"), "{}", r.body);

    let doc = get_json(&c, &format!("{reg}/v1/providers/my-org/mytool/versions"), Some(BOB)).await;
    let v = &doc["versions"][0];
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["protocols"], serde_json::json!(["5.0", "6.0"]));
    assert_eq!(v["platforms"].as_array().expect("platforms").len(), 2, "{doc}");

    let d = get_json(&c, &format!("{reg}/v1/providers/my-org/mytool/1.0.0/download/linux/amd64"), Some(BOB)).await;
    assert_eq!(d["filename"], "terraform-provider-mytool_1.0.0_linux_amd64.zip");
    assert_eq!(d["shasum"], hex::encode(sha2::Sha256::digest(&linux)));
    assert_eq!(d["os"], "linux");
    // Every link works without credentials, as Terraform fetches them.
    let (status, _, zip) = get(&c, d["download_url"].as_str().expect("url"), None).await;
    assert_eq!((status, zip), (200, linux.clone()));
    let (status, _, sums) = get(&c, d["shasums_url"].as_str().expect("url"), None).await;
    assert_eq!(status, 200);
    let sums = String::from_utf8(sums).expect("text");
    assert_eq!(sums.lines().count(), 2, "{sums}");
    assert!(
        sums.contains(&format!(
            "{}  terraform-provider-mytool_1.0.0_linux_amd64.zip",
            d["shasum"].as_str().expect("h")
        ))
    );
    let (status, _, sig) = get(&c, d["shasums_signature_url"].as_str().expect("url"), None).await;
    assert_eq!(status, 200);
    // The signature verifies with the key the document gives, and only
    // over these checksums.
    let key = &d["signing_keys"]["gpg_public_keys"][0];
    let (public, _) = SignedPublicKey::from_string(key["ascii_armor"].as_str().expect("armor")).expect("a public key");
    assert_eq!(key["key_id"].as_str().expect("id"), hex::encode_upper(pgp::types::KeyDetails::legacy_key_id(&public)));
    let sig = DetachedSignature::from_bytes(&sig[..]).expect("a signature");
    sig.verify(&public.primary_key, sums.as_bytes()).expect("verifies");
    assert!(sig.verify(&public.primary_key, &b"other sums"[..]).is_err());
    // One key for the registry, kept: the second download names it again.
    let again = get_json(&c, &format!("{reg}/v1/providers/my-org/mytool/1.0.0/download/darwin/arm64"), Some(BOB)).await;
    assert_eq!(again["signing_keys"], d["signing_keys"]);

    // The network mirror, for any host name.
    let index = get_json(&c, &format!("{reg}/registry.example/my-org/mytool/index.json"), Some(BOB)).await;
    assert_eq!(index["versions"], serde_json::json!({"1.0.0": {}}));
    let m = get_json(&c, &format!("{reg}/registry.example/my-org/mytool/1.0.0.json"), Some(BOB)).await;
    let a = &m["archives"]["linux_amd64"];
    let hashes: Vec<&str> = a["hashes"].as_array().expect("hashes").iter().map(|h| h.as_str().expect("h")).collect();
    assert!(hashes[0].starts_with("h1:") && hashes[1] == format!("zh:{}", d["shasum"].as_str().expect("h")), "{m}");
    assert_eq!(get(&c, a["url"].as_str().expect("url"), None).await.0, 200);
    assert_eq!(get(&c, &format!("{reg}/registry.example/my-org/mytool/index.json"), None).await.0, 401);

    // Yanked: off the lists.
    let r = c.delete(format!("{reg}/v1/providers/my-org/mytool/1.0.0")).bearer_auth(ALICE).send().await.expect("yank");
    assert_eq!(r.status(), 200);
    let doc = get_json(&c, &format!("{reg}/v1/providers/my-org/mytool/versions"), Some(BOB)).await;
    assert_eq!(doc["versions"].as_array().expect("list").len(), 0, "{doc}");
    let index = get_json(&c, &format!("{reg}/registry.example/my-org/mytool/index.json"), Some(BOB)).await;
    assert_eq!(index["versions"], serde_json::json!({}));
}

#[tokio::test]
async fn an_upstream_registry_is_followed_through_its_discovery() {
    let up = FakeRegistry::start().await;
    let zip = provider_zip("null", "3.2.1");
    up.add_provider("hashicorp/null", "3.2.1", "linux_amd64", zip.clone());
    up.add_module("acme/network/aws", "1.0.0", module_tgz("1.0.0"));
    let s = TestServer::with(&[Reg::proxy("terraform", "tf", &up.url).open_read()], "").await;
    let (c, reg) = (client(), s.reg("tf"));

    let doc = get_json(&c, &format!("{reg}/v1/providers/hashicorp/null/versions"), None).await;
    assert_eq!(doc["versions"][0]["version"], "3.2.1");
    let d = get_json(&c, &format!("{reg}/v1/providers/hashicorp/null/3.2.1/download/linux/amd64"), None).await;
    // The upstream's file name, digest and keys; BatleHub's URLs.
    assert_eq!(d["filename"], "terraform-provider-null_3.2.1_linux_amd64.zip");
    assert_eq!(d["shasum"], hex::encode(sha2::Sha256::digest(&zip)));
    assert_eq!(d["signing_keys"]["gpg_public_keys"][0]["key_id"], "0123456789ABCDEF");
    for k in ["download_url", "shasums_url", "shasums_signature_url"] {
        assert!(d[k].as_str().expect("url").starts_with(&reg), "{k}: {d}");
    }
    let (status, _, body) = get(&c, d["download_url"].as_str().expect("url"), None).await;
    assert_eq!((status, body), (200, zip.clone()));
    let (_, _, sums) = get(&c, d["shasums_url"].as_str().expect("url"), None).await;
    let (_, _, upstream_sums) = get(&c, &format!("{}/files/hashicorp/null/3.2.1/SHA256SUMS", up.url), None).await;
    assert_eq!(sums, upstream_sums, "passed through byte for byte");
    let (_, _, sig) = get(&c, d["shasums_signature_url"].as_str().expect("url"), None).await;
    assert_eq!(sig, b"upstream-signature".to_vec());
    // The mirror gives the upstream's zh: hashes.
    let m = get_json(&c, &format!("{reg}/registry.example/hashicorp/null/3.2.1.json"), None).await;
    assert_eq!(m["archives"]["linux_amd64"]["hashes"][0], format!("zh:{}", hex::encode(sha2::Sha256::digest(&zip))));

    // A module whose source is an archive: through here, cached, checked.
    let r = no_redirects().get(format!("{reg}/v1/modules/acme/network/aws/1.0.0/download")).send().await.expect("get");
    assert_eq!(r.status(), 204);
    let link = r.headers()["x-terraform-get"].to_str().expect("header").to_string();
    assert!(link.starts_with(&format!("{reg}/v1/modules/acme/network/aws/1.0.0/archive.tar.gz?grant=")), "{link}");
    let (status, _, body) = get(&c, &link, None).await;
    assert_eq!((status, body), (200, module_tgz("1.0.0")));
    let hits = up.total_hits();
    let (status, _, body) = get(&c, &link, None).await;
    assert_eq!((status, body), (200, module_tgz("1.0.0")));
    assert_eq!(up.total_hits(), hits, "the cached archive is served without the upstream");
    // One that does not unpack as a module is refused and not kept.
    up.add_module("acme/broken/aws", "1.0.0", b"not an archive".to_vec());
    let r = no_redirects().get(format!("{reg}/v1/modules/acme/broken/aws/1.0.0/download")).send().await.expect("get");
    let link = r.headers()["x-terraform-get"].to_str().expect("header").to_string();
    assert_eq!(get(&c, &link, None).await.0, 502);
    // Any other source is Terraform's to fetch: passed on.
    up.add_module("acme/git/aws", "1.0.0", Vec::new());
    let r = no_redirects().get(format!("{reg}/v1/modules/acme/git/aws/1.0.0/download")).send().await.expect("get");
    assert_eq!(r.headers()["x-terraform-get"], "git::https://git.example/modules.git?ref=v1");
    let doc = get_json(&c, &format!("{reg}/v1/modules/acme/network/aws/versions"), None).await;
    assert_eq!(doc["modules"][0]["versions"][0]["version"], "1.0.0");
    assert_eq!(get(&c, &format!("{reg}/v1/modules/acme/other/aws/versions"), None).await.0, 404);
}

#[tokio::test]
async fn the_setup_guide_and_the_dashboard_show_terraform() {
    let s = TestServer::with(&[Reg::local("terraform", "tf")], "").await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = browser.post(format!("{}/login", s.url)).form(&[("token", ALICE), ("return_to", "/")]).send().await;
    assert_eq!(r.expect("login").status(), 303);
    let setup = browser.get(format!("{}/setup", s.url)).send().await.expect("setup").text().await.expect("body");
    let modules = format!("{}/v1/modules/", s.reg("tf"));
    for needle in [modules.as_str(), "credentials", "network_mirror", "required_providers", "provider_installation"] {
        assert!(setup.contains(needle), "the Setup Guide lacks {needle}");
    }
    let ns = browser.get(format!("{}/my-namespace", s.url)).send().await.expect("ns").text().await.expect("body");
    assert!(ns.contains("id=\"cli-tf-terraform-publish\""), "Terraform is in the CLI instructions");
    assert!(ns.contains("/v1/providers/my-org/mytool/1.0.0/linux/amd64"), "with the provider upload");
}
