//! The real mvn against BatleHub, following the Setup Guide: `mvn deploy` of
//! a release and of a SNAPSHOT (twice) to a private registry with the
//! credentials of `settings.xml` (sent after the 401 challenge), then a
//! consumer built with `mvn package` through a proxy registry (`mirrorOf
//! *`) that serves the private artifacts first and everything else,
//! plugins included, from its upstream: a fake serving the machine's local
//! Maven repository, which `.ci/run` fills from the seed project
//! (`tests/maven/seed`). mvn runs with an empty local repository of its
//! own, so every artifact it uses comes through BatleHub.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::builder::Reg;
use crate::support::fake::FakeUpstream;
use crate::support::maven::DirProtocol;
use crate::support::runner::{Output, Runner};
use crate::support::{ALICE, TestServer, client_tool, config, snippet};

const PLUGINS: &str = include_str!("../maven/plugins.xml");

fn project(
    dir: &Path,
    group: &str,
    artifact: &str,
    version: &str,
    deps: &str,
    distribution: &str,
    java: &str,
) -> PathBuf {
    let pom = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project>\n  <modelVersion>4.0.0</modelVersion>\n  \
         <groupId>{group}</groupId>\n  <artifactId>{artifact}</artifactId>\n  <version>{version}</version>\n  \
         <properties>\n    <maven.compiler.release>17</maven.compiler.release>\n    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>\n  </properties>\n  \
         <dependencies>\n{deps}  </dependencies>\n{distribution}  <build>\n{PLUGINS}  </build>\n</project>\n"
    );
    let root = dir.join(artifact);
    let src = root.join("src/main/java/com/acme");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(root.join("pom.xml"), pom).expect("pom");
    let class = artifact.replace('-', "_");
    std::fs::write(src.join(format!("{class}.java")), java.replace("CLASS", &class)).expect("java");
    root
}

fn dep(group: &str, artifact: &str, version: &str) -> String {
    format!(
        "    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>\n"
    )
}

struct Mvn {
    runner: Runner,
    mvn: PathBuf,
}

impl Mvn {
    async fn run(&self, args: &[&str], cwd: &Path, repo: &str) -> Output {
        let local = format!("-Dmaven.repo.local={}", self.runner.path(repo).display());
        let settings = self.runner.path("settings.xml").display().to_string();
        let mut all = vec!["-B", "-s", settings.as_str(), local.as_str()];
        all.extend_from_slice(args);
        self.runner.run(&self.mvn, &all, cwd).await
    }

    async fn ok(&self, args: &[&str], cwd: &Path, repo: &str) -> String {
        let out = self.run(args, cwd, repo).await;
        assert!(out.ok, "mvn {args:?} failed:\n{}", out.text());
        out.stdout
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mvn_deploys_releases_and_snapshots_and_builds_through_the_proxy() {
    let Some(mvn) = client_tool("mvn") else { return };
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let seeded = home.join(".m2/repository/org/apache/maven/plugins/maven-deploy-plugin/3.1.3");
    if !seeded.is_dir() {
        assert!(
            std::env::var("BATLEHUB_REQUIRE_CLIENTS").as_deref() != Ok("1"),
            "the local Maven repository is not seeded: run mvn deploy in crates/batlehub/tests/maven/seed (.ci/run does)"
        );
        eprintln!("SKIPPED: the local Maven repository is not seeded (see tests/maven/seed)");
        return;
    }
    let upstream = FakeUpstream::serve(DirProtocol { root: home.join(".m2/repository") }).await;
    let rbac = "[registries.rbac]\nanonymous = []\nuser = [\"releases:read\", \"source:read\", \"releases:write\"]\n";
    let s = TestServer::start(&config(&format!(
        "{}{rbac}{}{rbac}",
        Reg::local("maven", "internal").toml(),
        Reg::proxy("maven", "maven", &upstream.url).member("internal").toml(),
    )))
    .await;

    let runner = Runner::new(Duration::from_secs(600))
        .dirs(&["work", "home"])
        .env_path("HOME", "home")
        .env("MAVEN_OPTS", "-Xmx512m");
    // settings.xml from the Setup Guide: the mirror of everything, and the
    // server credentials (a user id and a token).
    let settings = snippet(&s, "maven", "maven-settings", "alice", ALICE);
    assert!(settings.contains("<mirrorOf>*</mirrorOf>"), "{settings}");
    std::fs::write(runner.path("settings.xml"), &settings).expect("settings");
    let m = Mvn { runner, mvn };
    let distribution = snippet(&s, "internal", "maven-distribution", "alice", ALICE);
    let work = m.runner.path("work");

    // A release, deployed once: a second deploy is refused (409).
    let lib = project(
        &work,
        "com.acme",
        "lib",
        "1.0",
        "",
        &distribution,
        "package com.acme;\n\npublic class CLASS {\n    public static String hello() { return \"hello from lib\"; }\n}\n",
    );
    m.ok(&["deploy"], &lib, "repo-lib").await;
    let again = m.run(&["deploy"], &lib, "repo-lib").await;
    assert!(!again.ok, "a release was deployed twice");
    assert!(again.text().contains("409"), "{}", again.text());

    // A SNAPSHOT, deployed twice: two builds, the second resolves.
    let java_v = |v: &str| {
        format!(
            "package com.acme;\n\npublic class CLASS {{\n    public static String build() {{ return \"{v}\"; }}\n}}\n"
        )
    };
    let snap = project(&work, "com.acme", "snap", "1.1-SNAPSHOT", "", &distribution, &java_v("first"));
    m.ok(&["deploy"], &snap, "repo-snap").await;
    std::fs::write(snap.join("src/main/java/com/acme/snap.java"), java_v("second").replace("CLASS", "snap"))
        .expect("java");
    m.ok(&["deploy"], &snap, "repo-snap").await;
    let meta = reqwest::Client::new()
        .get(format!("{}/com/acme/snap/1.1-SNAPSHOT/maven-metadata.xml", s.reg("internal")))
        .basic_auth("alice", Some(ALICE))
        .send()
        .await
        .expect("metadata")
        .text()
        .await
        .expect("body");
    assert!(meta.contains("<buildNumber>2</buildNumber>"), "{meta}");

    // A consumer of both and of a third-party library, through the proxy.
    let consumer = project(
        &work,
        "com.acme",
        "consumer",
        "1.0",
        &(dep("com.acme", "lib", "1.0")
            + &dep("com.acme", "snap", "1.1-SNAPSHOT")
            + &dep("org.apache.commons", "commons-lang3", "3.14.0")),
        "",
        "package com.acme;\n\npublic class CLASS {\n    public static String all() {\n        return org.apache.commons.lang3.StringUtils.capitalize(lib.hello()) + \" \" + snap.build();\n    }\n}\n",
    );
    m.ok(&["package"], &consumer, "repo-consumer").await;
    assert!(consumer.join("target/consumer-1.0.jar").is_file());
    let repo = m.runner.path("repo-consumer/com/acme/snap/1.1-SNAPSHOT");
    let jars: Vec<String> = std::fs::read_dir(&repo)
        .expect("snapshot folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jar"))
        .collect();
    assert!(jars.iter().any(|n| n.ends_with("-2.jar")), "the latest SNAPSHOT build was resolved: {jars:?}");
    // Everything came through BatleHub: the plugins from the upstream.
    assert!(
        upstream.hits("/org/apache/maven/plugins/maven-compiler-plugin/3.13.0/maven-compiler-plugin-3.13.0.jar") == 1
    );
    assert!(upstream.hits("/org/apache/commons/commons-lang3/3.14.0/commons-lang3-3.14.0.jar") == 1);
    assert_eq!(upstream.hits("/com/acme/lib/1.0/lib-1.0.jar"), 0, "a private artifact was asked of the upstream");
}
