//! The real Terraform CLI (or OpenTofu's `tofu`) against BatleHub over
//! HTTPS, trusting a test CA through `SSL_CERT_FILE`:
//!
//! - a private provider and a private module published with the Setup
//!   Guide's `curl` commands, installed by `terraform init` found through
//!   service discovery at the host root (`[server] well_known_registry`),
//!   with the credentials block of the Setup Guide: the provider's
//!   `SHA256SUMS` signature is verified by Terraform against the key
//!   BatleHub publishes;
//! - a provider of an upstream registry (a second BatleHub) installed
//!   through a proxy registry named in a `host` block (the Setup Guide's),
//!   its archive cached and its upstream's signature passed through;
//! - the same private provider installed through the network mirror
//!   protocol (the Setup Guide's `provider_installation` block), which
//!   checks the package against the `h1:` and `zh:` hashes BatleHub gives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::runner::Runner;
use crate::support::terraform::{module_tgz, provider_zip, put_provider};
use crate::support::tls::pems;
use crate::support::{ALICE, TestServer, client, client_tool, config, public_upstream, snippet_at};

/// `BATLEHUB_TERRAFORM` if set, else Terraform, else OpenTofu.
fn terraform() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BATLEHUB_TERRAFORM") {
        return Some(PathBuf::from(p));
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
    };
    on_path("terraform").or_else(|| on_path("tofu")).or_else(|| client_tool("terraform"))
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn uses(host: &str, provider: &str, module: Option<&str>) -> String {
    let (ns, kind) = provider.split_once('/').expect("ns/type");
    let mut main = format!(
        "terraform {{\n  required_providers {{\n    {kind} = {{\n      source  = \"{host}/{ns}/{kind}\"\n      version = \"~> 1.0\"\n    }}\n  }}\n}}\n"
    );
    if let Some(m) = module {
        main.push_str(&format!("\nmodule \"network\" {{\n  source  = \"{host}/{m}\"\n  version = \"1.0.0\"\n}}\n"));
    }
    main
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_init_installs_private_and_proxied_providers_and_modules() {
    let Some(tf) = terraform() else { return };
    // The Setup Guide publishes with curl.
    if client_tool("curl").is_none() {
        return;
    }

    // The upstream registry: a second BatleHub (plain HTTP, open to read),
    // holding a provider only it has.
    let public = public_upstream("terraform").await;
    let r = put_provider(
        &client(),
        &public.reg("public"),
        Some(ALICE),
        "upstream-org/uptool",
        "1.2.0",
        "linux_amd64",
        provider_zip("uptool", "1.2.0"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // BatleHub over HTTPS: a private registry (whose discovery the host
    // root serves) and a proxy of the upstream, both needing credentials.
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = pems();
    let (ca_path, cert_path, key_path) =
        (dir.path().join("ca.pem"), dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&ca_path, &ca).expect("ca");
    std::fs::write(&cert_path, &cert).expect("cert");
    std::fs::write(&key_path, &key).expect("key");
    let rbac = "[registries.rbac]\nanonymous = []\nuser = [\"releases:read\", \"releases:write\"]\n";
    let registries = format!(
        "[[registries]]\ntype = \"terraform\"\nname = \"tf\"\nmode = \"local\"\n{rbac}\
         [[registries]]\ntype = \"terraform\"\nname = \"tf-proxy\"\nmode = \"proxy\"\nupstreams = [\"{}\"]\n{rbac}",
        public.reg("public")
    );
    let server = format!(
        "port = 0\ntls_cert_file = {:?}\ntls_key_file = {:?}\nwell_known_registry = \"tf\"\n",
        cert_path.display(),
        key_path.display()
    );
    let s = TestServer::start(&config(&registries).replacen("port = 0\n", &server, 1)).await;
    let port = s.url.rsplit(':').next().expect("port").to_string();
    // Module addresses need a dot in the host name.
    let host = format!("127.0.0.1:{port}");
    let base = format!("https://{host}");
    let tf_url = format!("{base}/proxy/tf");

    let runner = Runner::new(Duration::from_secs(240))
        .dirs(&["home", "publish", "one", "two", "three", "plugins"])
        .env_path("HOME", "home")
        .env("SSL_CERT_FILE", &ca_path)
        .env("CURL_CA_BUNDLE", &ca_path)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env_remove("TF_PLUGIN_CACHE_DIR")
        .env_remove("TF_CLI_CONFIG_FILE");

    // Publish with the Setup Guide's commands.
    let publish = runner.path("publish");
    write(&publish, "network/main.tf", &String::from_utf8_lossy(&module_tgz_main()));
    std::fs::write(publish.join("terraform-provider-mytool_1.0.0_linux_amd64.zip"), provider_zip("mytool", "1.0.0"))
        .expect("zip");
    let script = snippet_at(batlehub::kinds::Kind::Terraform, &tf_url, "terraform-publish", "alice", ALICE)
        .replace("curl ", "curl -fsS ");
    runner.ok(Path::new("/bin/sh"), &["-c", &script], &publish).await;

    // 1. Service discovery at the host root, the credentials block.
    let host_snippet = snippet_at(batlehub::kinds::Kind::Terraform, &tf_url, "terraform-host", "alice", ALICE);
    let credentials = &host_snippet[host_snippet.find("credentials").expect("a credentials block")..];
    let credentials = &credentials[..credentials.find("\n}\n").expect("its end") + 3];
    write(&runner.path("home"), "one.tfrc", credentials);
    let one = runner.path("one");
    write(&one, "main.tf", &uses(&host, "my-org/mytool", Some("my-org/network/aws")));
    let cli_one = runner.path("home/one.tfrc");
    let out = runner
        .ok_with(
            &tf,
            &["init", "-input=false", "-no-color"],
            &one,
            &[("TF_CLI_CONFIG_FILE", cli_one.to_str().expect("utf-8"))],
        )
        .await;
    assert!(out.contains("Installed 127.0.0.1") && out.contains("mytool v1.0.0"), "{out}");
    // Signed with BatleHub's key, which Terraform checked.
    let web = https_client(&ca);
    let key_id = batlehub_key_id(&web, &tf_url).await;
    assert!(out.contains(&format!("key ID {key_id}")), "signed by the key BatleHub publishes ({key_id}): {out}");
    let module_main =
        std::fs::read_to_string(one.join(".terraform/modules/network/main.tf")).expect("module installed");
    assert!(module_main.contains("\"1.0.0\""), "{module_main}");
    let lock = std::fs::read_to_string(one.join(".terraform.lock.hcl")).expect("lock file");
    let h1 = h1_of(&web, &tf_url).await;
    assert!(lock.contains(&h1), "Terraform computed the h1 BatleHub computed ({h1}): {lock}");

    // 2. A provider of the upstream, through the proxy named in a host block.
    let proxy_url = format!("{base}/proxy/tf-proxy");
    let proxy_host = snippet_at(batlehub::kinds::Kind::Terraform, &proxy_url, "terraform-host", "alice", ALICE);
    write(&runner.path("home"), "two.tfrc", &proxy_host);
    let two = runner.path("two");
    write(&two, "main.tf", &uses(&host, "upstream-org/uptool", None));
    let cli_two = runner.path("home/two.tfrc");
    let out = runner
        .ok_with(
            &tf,
            &["init", "-input=false", "-no-color"],
            &two,
            &[("TF_CLI_CONFIG_FILE", cli_two.to_str().expect("utf-8"))],
        )
        .await;
    assert!(out.contains("uptool v1.2.0"), "{out}");
    let upstream_key = batlehub_key_id(&client(), &public.reg("public")).await;
    assert!(out.contains(&format!("key ID {upstream_key}")), "the upstream's own signature ({upstream_key}): {out}");

    // 3. The network mirror: hashes, no signature.
    let mirror = snippet_at(batlehub::kinds::Kind::Terraform, &tf_url, "terraform-mirror", "alice", ALICE);
    write(&runner.path("home"), "three.tfrc", &mirror);
    let three = runner.path("three");
    write(&three, "main.tf", &uses("registry.example", "my-org/mytool", None));
    let cli_three = runner.path("home/three.tfrc");
    let out = runner
        .ok_with(
            &tf,
            &["init", "-input=false", "-no-color"],
            &three,
            &[("TF_CLI_CONFIG_FILE", cli_three.to_str().expect("utf-8"))],
        )
        .await;
    assert!(out.contains("mytool v1.0.0"), "{out}");
    let lock = std::fs::read_to_string(three.join(".terraform.lock.hcl")).expect("lock file");
    // Terraform checked the package against the mirror's hashes, and
    // records the one it computed itself.
    assert!(lock.contains(&h1), "the mirror's h1: {lock}");

    // Without credentials the registry refuses.
    let four = runner.path("plugins");
    write(&four, "main.tf", &uses(&host, "my-org/mytool", None));
    write(&runner.path("home"), "none.tfrc", "# no credentials\n");
    let cli_none = runner.path("home/none.tfrc");
    let out = runner
        .run_with(
            &tf,
            &["init", "-input=false", "-no-color"],
            &four,
            &[("TF_CLI_CONFIG_FILE", cli_none.to_str().expect("utf-8"))],
        )
        .await;
    assert!(!out.ok, "installed without credentials: {}", out.text());
    assert!(out.text().contains("requires authentication"), "{}", out.text());
}

/// The module the publish snippet archives.
fn module_tgz_main() -> Vec<u8> {
    let tgz = module_tgz("1.0.0");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]));
    let mut entry = archive.entries().expect("entries").next().expect("an entry").expect("entry");
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut text).expect("read");
    text
}

fn https_client(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca pem");
    reqwest::Client::builder().add_root_certificate(ca).build().expect("client")
}

/// The key id the download document of `my-org/mytool` (or the upstream's
/// provider) names.
async fn batlehub_key_id(c: &reqwest::Client, registry_url: &str) -> String {
    let (name, version) =
        if registry_url.ends_with("/public") { ("upstream-org/uptool", "1.2.0") } else { ("my-org/mytool", "1.0.0") };
    let url = format!("{registry_url}/v1/providers/{name}/{version}/download/linux/amd64");
    let doc: serde_json::Value = c.get(url).bearer_auth(ALICE).send().await.expect("get").json().await.expect("json");
    doc["signing_keys"]["gpg_public_keys"][0]["key_id"].as_str().expect("a key id").to_string()
}

/// The `h1:` hash the mirror gives for `my-org/mytool` 1.0.0 on linux_amd64.
async fn h1_of(c: &reqwest::Client, registry_url: &str) -> String {
    let url = format!("{registry_url}/registry.example/my-org/mytool/1.0.0.json");
    let doc: serde_json::Value = c.get(url).bearer_auth(ALICE).send().await.expect("get").json().await.expect("json");
    doc["archives"]["linux_amd64"]["hashes"][0].as_str().expect("h1").to_string()
}
