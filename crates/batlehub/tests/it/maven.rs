//! Maven in process: deploys as mvn makes them (releases, SNAPSHOTs twice,
//! checksums verified, metadata generated), plugin group metadata, snapshot
//! retention, and the proxy's checksum verification and negative cache.

use crate::support::builder::Reg;
use crate::support::maven::{FakeMaven, jar, pom, put, sha1_hex};
use crate::support::{ALICE, BOB, TestServer, client, config};

async fn get(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.basic_auth("u", Some(t));
    }
    let r = r.send().await.expect("get");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.expect("body").to_vec())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn deploy_a_release_with_checksums_and_generated_metadata() {
    let s = TestServer::with(&[Reg::local("maven", "releases")], "").await;
    let c = client();
    let reg = s.reg("releases");
    let dir = "com/acme/app/1.0";
    let bytes = jar("app", "1.0");
    // As mvn deploy sends a version: files, their checksums, then metadata.
    assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0.jar"), bytes.clone()).await.status, 201);
    let p = pom("com.acme", "app", "1.0", "jar");
    assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0.pom"), p.clone().into_bytes()).await.status, 201);
    assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0-sources.jar"), b"src".to_vec()).await.status, 201);
    // Gradle's module metadata and a signature are files of the version too.
    let module = br#"{"formatVersion":"1.1","component":{"group":"com.acme","module":"app","version":"1.0"}}"#.to_vec();
    assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0.module"), module.clone()).await.status, 201);
    let asc = b"-----BEGIN PGP SIGNATURE-----
abc
-----END PGP SIGNATURE-----
"
    .to_vec();
    assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0.jar.asc"), asc.clone()).await.status, 201);
    let ok = put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0.jar.sha1"), sha1_hex(&bytes).into_bytes()).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let wrong =
        put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0.jar.md5"), b"0123456789abcdef0123456789abcdef".to_vec())
            .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("checksum mismatch"), "{}", wrong.body);
    let meta =
        put(&c, &reg, Some(ALICE), "com/acme/app/maven-metadata.xml", b"<metadata><versioning/></metadata>".to_vec())
            .await;
    assert_eq!(meta.status, 201, "{}", meta.body);
    assert_eq!(
        put(&c, &reg, Some(ALICE), "com/acme/app/maven-metadata.xml.sha1", b"abc123".to_vec()).await.status,
        201
    );

    // Files, with their type, validators and checksums.
    let (status, headers, body) = get(&c, &format!("{reg}/{dir}/app-1.0.jar"), Some(BOB)).await;
    assert_eq!((status, body.as_slice()), (200, bytes.as_slice()));
    assert_eq!(headers["content-type"], "application/java-archive");
    assert_eq!(headers["etag"], format!("\"{}\"", sha1_hex(&bytes)).as_str());
    assert!(headers.contains_key("last-modified"));
    let (_, headers, _) = get(&c, &format!("{reg}/{dir}/app-1.0.pom"), Some(BOB)).await;
    assert_eq!(headers["content-type"], "application/xml");
    let (status, headers, body) = get(&c, &format!("{reg}/{dir}/app-1.0.module"), Some(BOB)).await;
    assert_eq!((status, body), (200, module));
    assert_eq!(headers["content-type"], "application/json");
    let (status, headers, body) = get(&c, &format!("{reg}/{dir}/app-1.0.jar.asc"), Some(BOB)).await;
    assert_eq!((status, body), (200, asc.clone()));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let (_, _, sha1) = get(&c, &format!("{reg}/{dir}/app-1.0.jar.asc.sha1"), Some(BOB)).await;
    assert_eq!(text(&sha1), sha1_hex(&asc), "signatures have checksums too");
    let r = c.head(format!("{reg}/{dir}/app-1.0.jar")).basic_auth("u", Some(BOB)).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], bytes.len().to_string().as_str());
    use sha2::Digest;
    for (ext, want) in [
        ("sha1", sha1_hex(&bytes)),
        ("md5", hex::encode(md5::Md5::digest(&bytes))),
        ("sha256", hex::encode(sha2::Sha256::digest(&bytes))),
        ("sha512", hex::encode(sha2::Sha512::digest(&bytes))),
    ] {
        let (status, _, body) = get(&c, &format!("{reg}/{dir}/app-1.0.jar.{ext}"), Some(BOB)).await;
        assert_eq!((status, text(&body)), (200, want), "{ext}");
    }
    // A release file is immutable.
    let again = put(&c, &reg, Some(ALICE), &format!("{dir}/app-1.0.jar"), bytes.clone()).await;
    assert_eq!(again.status, 409, "{}", again.body);
    // Another user may not deploy to alice's artifact.
    let theirs = put(&c, &reg, Some(BOB), "com/acme/app/1.1/app-1.1.jar", jar("app", "1.1")).await;
    assert_eq!(theirs.status, 403, "{}", theirs.body);

    // Metadata generated from the catalog, whatever was deployed.
    assert_eq!(put(&c, &reg, Some(ALICE), "com/acme/app/1.10/app-1.10.jar", jar("app", "1.10")).await.status, 201);
    assert_eq!(put(&c, &reg, Some(ALICE), "com/acme/app/1.9/app-1.9.jar", jar("app", "1.9")).await.status, 201);
    let (status, headers, body) = get(&c, &format!("{reg}/com/acme/app/maven-metadata.xml"), Some(BOB)).await;
    let xml = text(&body);
    assert_eq!(status, 200, "{xml}");
    assert_eq!(headers["content-type"], "application/xml");
    assert!(xml.contains("<groupId>com.acme</groupId>") && xml.contains("<artifactId>app</artifactId>"), "{xml}");
    assert!(xml.contains("<versions>\n      <version>1.0</version>\n      <version>1.9</version>\n      <version>1.10</version>\n    </versions>"), "Maven order: {xml}");
    assert!(xml.contains("<latest>1.10</latest>") && xml.contains("<release>1.10</release>"), "{xml}");
    assert!(xml.contains("<lastUpdated>20"), "{xml}");
    let (_, _, sha1) = get(&c, &format!("{reg}/com/acme/app/maven-metadata.xml.sha1"), Some(BOB)).await;
    assert_eq!(text(&sha1), sha1_hex(xml.as_bytes()), "the checksum of the served bytes");
    // The validator: 304 without rendering anything new.
    let etag = headers["etag"].to_str().expect("etag").to_string();
    let r = c
        .get(format!("{reg}/com/acme/app/maven-metadata.xml"))
        .basic_auth("u", Some(BOB))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 304);
}

#[tokio::test]
async fn snapshots_deploy_twice_resolve_latest_and_keep_the_newest_builds() {
    let s = TestServer::start(&config(&format!(
        "{}[registries.options]\nsnapshot_builds_kept = 2\n",
        Reg::local("maven", "snapshots").toml()
    )))
    .await;
    let c = client();
    let reg = s.reg("snapshots");
    let v = "1.0-SNAPSHOT";
    let dir = format!("com/acme/lib/{v}");
    // Three builds, as three `mvn deploy` runs name their files.
    for (n, stamp) in [(1, "20261129.100000"), (2, "20261129.110000"), (3, "20261129.120000")] {
        let b = format!("lib-1.0-{stamp}-{n}");
        assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/{b}.jar"), jar("lib", &b)).await.status, 201);
        let p = pom("com.acme", "lib", v, "jar");
        assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/{b}.pom"), p.into_bytes()).await.status, 201);
        if n == 3 {
            assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir}/{b}-sources.jar"), b"s".to_vec()).await.status, 201);
        }
        // Redeploying a SNAPSHOT is allowed: each build has its own files.
    }
    let (status, _, body) = get(&c, &format!("{reg}/{dir}/maven-metadata.xml"), Some(BOB)).await;
    let xml = text(&body);
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.contains("<timestamp>20261129.120000</timestamp>") && xml.contains("<buildNumber>3</buildNumber>"),
        "{xml}"
    );
    assert!(xml.contains("<extension>jar</extension>\n        <value>1.0-20261129.120000-3</value>"), "{xml}");
    assert!(xml.contains("<classifier>sources</classifier>"), "{xml}");
    assert!(xml.contains("<version>1.0-SNAPSHOT</version>"), "{xml}");
    // The non-unique name resolves to the latest build.
    let (status, _, body) = get(&c, &format!("{reg}/{dir}/lib-1.0-SNAPSHOT.jar"), Some(BOB)).await;
    assert_eq!((status, body), (200, jar("lib", "lib-1.0-20261129.120000-3")));
    // Retention: the newest two builds stay.
    let (status, _, _) = get(&c, &format!("{reg}/{dir}/lib-1.0-20261129.100000-1.jar"), Some(BOB)).await;
    assert_eq!(status, 404, "build 1 was pruned");
    let (status, _, _) = get(&c, &format!("{reg}/{dir}/lib-1.0-20261129.110000-2.jar"), Some(BOB)).await;
    assert_eq!(status, 200);
    // The artifact lists the SNAPSHOT as its latest, with no release.
    let (_, _, body) = get(&c, &format!("{reg}/com/acme/lib/maven-metadata.xml"), Some(BOB)).await;
    let xml = text(&body);
    assert!(xml.contains("<latest>1.0-SNAPSHOT</latest>") && !xml.contains("<release>"), "{xml}");
}

#[tokio::test]
async fn plugins_get_group_metadata_with_their_prefix() {
    let s = TestServer::with(&[Reg::local("maven", "internal").open_read()], "").await;
    let c = client();
    let reg = s.reg("internal");
    let p = pom("com.acme.plugins", "hello-maven-plugin", "1.0", "maven-plugin");
    let dir = "com/acme/plugins/hello-maven-plugin/1.0";
    assert_eq!(
        put(&c, &reg, Some(ALICE), &format!("{dir}/hello-maven-plugin-1.0.pom"), p.into_bytes()).await.status,
        201
    );
    let lib = pom("com.acme.plugins", "not-a-plugin", "1.0", "jar");
    let dir2 = "com/acme/plugins/not-a-plugin/1.0";
    assert_eq!(put(&c, &reg, Some(ALICE), &format!("{dir2}/not-a-plugin-1.0.pom"), lib.into_bytes()).await.status, 201);
    let (status, _, body) = get(&c, &format!("{reg}/com/acme/plugins/maven-metadata.xml"), None).await;
    let xml = text(&body);
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.contains("<prefix>hello</prefix>") && xml.contains("<artifactId>hello-maven-plugin</artifactId>"),
        "{xml}"
    );
    assert!(!xml.contains("not-a-plugin"), "{xml}");
    let (status, _, _) = get(&c, &format!("{reg}/com/acme/nothing/maven-metadata.xml"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_proxy_remembers_what_the_upstream_lacks_and_keeps_claims_local() {
    let up = FakeMaven::start().await;
    up.add_file("org/example/dep", "2.0", "dep-2.0.jar", jar("dep", "2.0"));
    up.add_file("com/acme/secret", "9.0", "secret-9.0.jar", jar("secret", "9.0"));
    let s = TestServer::with(
        &[Reg::proxy("maven", "central", &up.url).open_read().namespace("com.acme", "oidc:myorg")],
        "",
    )
    .await;
    let c = client();
    let reg = s.reg("central");
    let (status, _, body) = get(&c, &format!("{reg}/org/example/dep/2.0/dep-2.0.jar"), None).await;
    assert_eq!((status, body), (200, jar("dep", "2.0")));
    let (status, _, body) = get(&c, &format!("{reg}/org/example/dep/maven-metadata.xml"), None).await;
    assert_eq!(status, 200);
    assert!(text(&body).contains("<version>2.0</version>"));
    // mvn and Gradle probe paths that do not exist: one upstream request
    // per path, then the answer is remembered.
    let missing = "org/example/dep/2.0/dep-2.0-javadoc.jar";
    for _ in 0..3 {
        assert_eq!(get(&c, &format!("{reg}/{missing}"), None).await.0, 404);
        assert_eq!(get(&c, &format!("{reg}/org/example/nothing/maven-metadata.xml"), None).await.0, 404);
    }
    assert_eq!(up.hits(&format!("/{missing}.sha1")), 1, "the miss was remembered");
    assert_eq!(up.hits("/org/example/nothing/maven-metadata.xml"), 1, "the miss was remembered");
    // A claimed group never goes upstream, files or metadata.
    let before = up.total_hits();
    assert_eq!(get(&c, &format!("{reg}/com/acme/secret/9.0/secret-9.0.jar"), None).await.0, 404);
    assert_eq!(get(&c, &format!("{reg}/com/acme/secret/maven-metadata.xml"), None).await.0, 404);
    assert_eq!(get(&c, &format!("{reg}/com/acme/maven-metadata.xml"), None).await.0, 404);
    assert_eq!(up.total_hits(), before, "a claimed group was asked of the upstream");
}

/// mvn (and its HTTP client) asks `Expect: 100-continue` before sending a
/// file: the server says "continue" at once, or refuses without waiting for
/// the body.
#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::with(&[Reg::local("maven", "releases")], "").await;
    let addr = s.url.trim_start_matches("http://").to_string();
    let body = jar("ex", "1.0");
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("u:{ALICE}"))
    };
    let head = |auth: &str| {
        format!(
            "PUT /proxy/releases/com/acme/ex/1.0/ex-1.0.jar HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        )
    };
    async fn first_line(stream: &mut tokio::net::TcpStream) -> String {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer before the body is sent")
            .expect("read");
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string()
    }
    // With credentials: 100 Continue, then the body, then 201.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    stream.write_all(head(&format!("Authorization: Basic {auth}\r\n")).as_bytes()).await.expect("head");
    assert_eq!(first_line(&mut stream).await, "HTTP/1.1 100 Continue");
    stream.write_all(&body).await.expect("body");
    assert!(first_line(&mut stream).await.starts_with("HTTP/1.1 201"));
    // Without: the 401 challenge at once, no body asked for.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    stream.write_all(head("").as_bytes()).await.expect("head");
    assert!(first_line(&mut stream).await.starts_with("HTTP/1.1 401"));
}
