//! The binary: --version, config check, hash-token, and the embedded default
//! on a fresh folder (first start prints an admin token once).

use std::process::Command;
use std::time::Duration;

fn batlehub() -> Command {
    Command::new(env!("CARGO_BIN_EXE_batlehub"))
}

#[test]
fn version_and_help() {
    let out = batlehub().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn config_check_reports_every_error_with_its_line() {
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n").expect("write");
    let out = batlehub().args(["config", "check"]).arg(&good).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nport = 8080\nbogus = true\n\n[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"proxy\"\n\n[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n",
    )
    .expect("write");
    let out = batlehub().args(["config", "check"]).arg(&bad).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:"), "{err}");
    assert!(err.contains("bogus"), "{err}");
    assert!(err.contains("no `upstreams`"), "{err}");
    assert!(err.contains("duplicate registry name `npm`"), "{err}");
}

#[test]
fn hash_token_makes_a_usable_phc_string() {
    let out = batlehub().args(["hash-token", "s3cret"]).output().expect("run");
    assert!(out.status.success());
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    use argon2::password_hash::PasswordVerifier;
    let parsed = argon2::password_hash::phc::PasswordHash::new(&hash).expect("phc");
    assert!(argon2::Argon2::default().verify_password(b"s3cret", &parsed).is_ok());
    assert!(argon2::Argon2::default().verify_password(b"other", &parsed).is_err());
}

/// `batlehub serve` with no config: the embedded default in ./data, an admin
/// token printed once, the .npmrc lines, a working local npm registry.
#[tokio::test]
async fn embedded_default_first_start() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("dir");
    let start = || {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_batlehub"));
        cmd.args(["serve", "--port", "0"])
            .current_dir(dir.path())
            .env_remove("BATLEHUB_CONFIG")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().expect("spawn")
    };
    let read_banner = |child: &mut tokio::process::Child| {
        let stdout = child.stdout.take().expect("stdout");
        async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            let mut text = String::new();
            let _ = tokio::time::timeout(Duration::from_secs(20), async {
                while let Ok(Some(line)) = lines.next_line().await {
                    text.push_str(&line);
                    text.push('\n');
                    if line.contains("_authToken=") || line.contains("only its hash is kept") {
                        break;
                    }
                }
            })
            .await;
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            text
        }
    };
    let mut child = start();
    let banner = read_banner(&mut child).await;
    let url = banner.lines().find_map(|l| l.split("listening on ").nth(1)).expect("listening line").trim().to_string();
    let token = banner.split_whitespace().find(|w| w.starts_with("bh_")).expect("a token is printed").to_string();
    assert!(banner.contains(&format!("registry={url}/proxy/npm/")), "{banner}");
    let host = url.trim_start_matches("http://");
    assert!(banner.contains(&format!("//{host}/proxy/npm/:_authToken={token}")), "{banner}");
    // The token is an admin on the default npm registry.
    let c = crate::support::client();
    let who: serde_json::Value = c
        .get(format!("{url}/proxy/npm/-/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(who["username"], "admin");
    let (status, _) = crate::support::npm::publish(&c, &format!("{url}/proxy/npm"), &token, "hello", "1.0.0").await;
    assert_eq!(status, 201);
    // Only the hash is kept: the secret appears nowhere under ./data.
    for f in crate::support::files_under(&dir.path().join("data")) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "{} holds the token", f.display());
    }
    let _ = child.kill().await;
    let _ = child.wait().await;
    // Second start: no new token.
    let mut child = start();
    let banner = read_banner(&mut child).await;
    assert!(!banner.contains("bh_"), "{banner}");
    assert!(banner.contains("only its hash is kept"), "{banner}");
    let _ = child.kill().await;
}
