//! Crash consistency: the real binary is killed with SIGKILL while 100
//! publishes and cache fills run at once, then started again on the same
//! catalog and store (SQLite + a folder, or PostgreSQL + S3 on that pass):
//! every acknowledged publish is whole, no listed version lacks its
//! artifact, `batlehub fsck` finds a clean store and the temporary folder
//! holds nothing. One line per ecosystem.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

use crate::support::builder::Reg;
use crate::support::fixture::Fixture;
use crate::support::{ALICE, client, config, config_text};

/// The real binary serving `config`; its URL once it listens.
async fn start(config: &std::path::Path) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
        .args(["serve", "--config", &config.display().to_string()])
        .env_remove("RUST_LOG")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(u) = line.split("listening on ").nth(1) {
                return u.trim().to_string();
            }
        }
        panic!("the server never said where it listens");
    })
    .await
    .expect("listening in time");
    // Keep reading stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

pub async fn killed_mid_write_loses_nothing_acknowledged<F: Fixture>() {
    let up = F::upstream().await;
    let fills: Vec<String> = (0..20).map(|i| F::name(&format!("fill{i}"), false)).collect();
    for name in &fills {
        F::seed(&up, name, "1.0.0");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let regs =
        [Reg::local(F::TYPE, "local").open_read(), Reg::proxy(F::TYPE, "mirror", &F::upstream_url(&up)).open_read()];
    let toml = config(&regs.iter().map(Reg::toml).collect::<Vec<_>>().join("\n"));
    let file = dir.path().join("batlehub.toml");
    std::fs::write(&file, config_text(dir.path(), &toml).await).expect("config");

    let (mut child, url) = start(&file).await;
    let c = client();
    let local = format!("{url}/proxy/local");
    let mirror = format!("{url}/proxy/mirror");
    let acked = std::sync::Mutex::new(Vec::<String>::new());
    let done = AtomicUsize::new(0);
    let publishes = futures_util::future::join_all((0..100).map(|i| {
        let (c, local, acked, done) = (&c, &local, &acked, &done);
        async move {
            let name = F::name(&format!("crash{i}"), false);
            let reply = F::publish(c, local, Some(ALICE), &name, "1.0.0").await;
            if (200..300).contains(&reply.status) {
                acked.lock().expect("lock").push(name);
            }
            done.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let cache_fills = futures_util::future::join_all(fills.iter().map(|name| {
        let url = format!("{mirror}{}", F::artifact(name, "1.0.0"));
        let c = &c;
        async move {
            if let Ok(r) = c.get(url).send().await {
                let _ = r.bytes().await;
            }
        }
    }));
    // SIGKILL mid-flight, once some publishes are through and many are
    // not; the requests still in flight are then dropped unanswered (all in
    // this task, so none of them is polled after the kill).
    let kill = async {
        while done.load(Ordering::SeqCst) < 20 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.start_kill().expect("SIGKILL");
    };
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::select! {
            _ = kill => {}
            _ = async { futures_util::join!(publishes, cache_fills) } => {}
        }
    })
    .await;
    assert!(finished.is_ok(), "{}: publishes never went through", F::TYPE);
    let _ = child.start_kill();
    let _ = child.wait().await;
    let acked: Vec<String> = acked.lock().expect("lock").clone();
    assert!(!acked.is_empty(), "{}", F::TYPE);
    eprintln!("{}: {} of 100 publishes acknowledged before the kill", F::TYPE, acked.len());

    // Restarted: every acknowledged publish is whole, and a version that
    // is listed (acknowledged or not) has its artifact.
    let (mut child, url) = start(&file).await;
    let local = format!("{url}/proxy/local");
    for i in 0..100 {
        let name = F::name(&format!("crash{i}"), false);
        let listed = c.get(format!("{local}{}", F::listing(&name))).send().await.expect("listing").status().as_u16();
        let artifact = c.get(format!("{local}{}", F::artifact(&name, "1.0.0"))).send().await.expect("artifact");
        let status = artifact.status().as_u16();
        let whole = artifact.bytes().await.is_ok();
        if acked.contains(&name) {
            assert_eq!((listed, status, whole), (200, 200, true), "{}: acknowledged {name} was lost", F::TYPE);
        } else if listed == 200 {
            assert_eq!((status, whole), (200, true), "{}: {name} is listed without its artifact", F::TYPE);
        }
    }
    // Cache fills go on from a clean slate.
    let r = c.get(format!("{url}/proxy/mirror{}", F::artifact(&fills[0], "1.0.0"))).send().await.expect("fill");
    assert_eq!(r.status(), 200, "{}", F::TYPE);
    child.start_kill().expect("stop");
    let _ = child.wait().await;

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
        .args(["fsck", "--config", &file.display().to_string()])
        .output()
        .await
        .expect("fsck");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("0 missing, 0 corrupt"), "{}: fsck: {text}", F::TYPE);
    // The second start cleared what the killed one left half-written.
    let tmp = dir.path().join("storage/tmp");
    if tmp.is_dir() {
        let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "{}: temporary files left: {left:?}", F::TYPE);
    }
}

macro_rules! crash {
    ($($module:ident => $fixture:ty;)*) => {
        $(
            mod $module {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn killed_mid_write_loses_nothing_acknowledged() {
                    super::killed_mid_write_loses_nothing_acknowledged::<$fixture>().await;
                }
            }
        )*
    };
}

crash! {
    npm => crate::support::npm::NpmFixture;
    cargo => crate::support::cargo::CargoFixture;
    pypi => crate::support::pypi::PypiFixture;
    go => crate::support::go::GoFixture;
    maven => crate::support::maven::MavenFixture;
    composer => crate::support::composer::ComposerFixture;
    rubygems => crate::support::rubygems::RubygemsFixture;
    nuget => crate::support::nuget::NugetFixture;
    conda => crate::support::conda::CondaFixture;
    openvsx => crate::support::vsx::OpenVsxFixture;
    marketplace => crate::support::vsx::MarketplaceFixture;
    terraform => crate::support::terraform::TerraformFixture;
}
