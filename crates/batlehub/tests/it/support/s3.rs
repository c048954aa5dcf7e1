//! An S3-compatible server for tests: moto's server on 127.0.0.1 (a Python
//! package; `.ci/run` installs it), and buckets made on it.

use std::time::Duration;

/// A moto server on a free port, stopped when dropped.
pub struct Moto {
    pub url: String,
    _child: tokio::process::Child,
}

impl Moto {
    /// Start one, or `None` (skipped) when moto is not installed outside CI.
    pub async fn start() -> Option<Moto> {
        let bin = crate::support::client_tool("moto_server")?;
        batlehub::tls::install_crypto_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = tokio::process::Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let url = format!("http://127.0.0.1:{port}");
        let c = reqwest::Client::new();
        for _ in 0..200 {
            if c.get(format!("{url}/moto-api/")).send().await.is_ok() {
                return Some(Moto { url, _child: child });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start");
    }
}

/// A fresh bucket on the S3-compatible server at `endpoint`.
pub async fn create_bucket(endpoint: &str) -> String {
    batlehub::tls::install_crypto_provider();
    let name = format!("b{}", uuid::Uuid::new_v4().simple());
    let r = reqwest::Client::new().put(format!("{endpoint}/{name}")).send().await.expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    name
}

/// The `[storage]` section of a store in `bucket` on `endpoint`.
pub fn storage_section(data: &std::path::Path, endpoint: &str, bucket: &str) -> String {
    format!(
        "[storage]\ntype = \"s3\"\npath = \"{}/storage\"\nbucket = \"{bucket}\"\nendpoint_url = \"{endpoint}\"\nforce_path_style = true\nregion = \"us-east-1\"\nprefix = \"batlehub/\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n",
        data.display()
    )
}
