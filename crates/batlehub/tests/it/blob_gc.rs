//! Blob lifetimes: no request path deletes a blob (a concurrent publish of
//! the same bytes may have just referenced it), `batlehub gc` deletes only
//! unreferenced blobs older than the grace period, and `batlehub fsck`
//! reports referenced blobs that are missing or corrupt.
//!
//! The races are made deterministic by running the concurrent publish's two
//! halves (its blob commit, then its rows) by hand around the other request.

use std::time::Duration;

use batlehub::access::{Principal, Role, Visibility};
use batlehub::blobs::BlobStore;
use batlehub::catalog::{BlobDigests, NewFile, NewVersion};
use bytes::Bytes;

use crate::support::builder::Reg;
use crate::support::npm::{publish_body, tarball};
use crate::support::{ADMIN, ALICE, TestServer, client, config, config_text, json, stored_blobs};

/// Whether the process-wide counter `metric` of `registry` is above zero.
fn counted(metric: &str, registry: &str) -> bool {
    let prefix = format!("{metric}{{registry=\"{registry}\"}}");
    batlehub::app::prometheus().render().lines().any(|l| l.starts_with(&prefix) && !l.ends_with(" 0"))
}

async fn put(store: &BlobStore, bytes: Vec<u8>) -> batlehub::blobs::PendingBlob {
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]);
    store.put_stream(chunks, u64::MAX).await.expect("put")
}

/// The second half of a publish of `name@1.0.0` whose blob (`blob`) is
/// already committed: its rows, written straight to the catalog.
async fn write_rows(s: &TestServer, name: &str, blob: BlobDigests) {
    let version = NewVersion {
        registry: "internal".into(),
        name: name.into(),
        display_name: name.into(),
        version: "1.0.0".into(),
        metadata: serde_json::json!({ "name": name, "version": "1.0.0" }).to_string(),
        files: vec![NewFile {
            filename: format!("{name}-1.0.0.tgz"),
            blob,
            content_type: "application/octet-stream".into(),
            metadata: "{}".into(),
        }],
        published_by: Some("alice".into()),
        tags: vec!["latest".into()],
        visibility: Visibility::Public,
        append: false,
    };
    s.app.catalog.publish_version(&version, Some("alice"), &|_| true, &[]).await.expect("rows");
}

async fn download(s: &TestServer, name: &str) -> (u16, Vec<u8>) {
    let url = format!("{}/{name}/-/{name}-1.0.0.tgz", s.reg("internal"));
    let r = client().get(url).bearer_auth(ALICE).send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

async fn npm_publish(s: &TestServer, name: &str, tgz: &[u8]) {
    let reg = s.reg("internal");
    let r = client()
        .put(format!("{reg}/{name}"))
        .bearer_auth(ALICE)
        .json(&publish_body(name, "1.0.0", tgz, &reg))
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

/// An unpublish used to delete the blobs nothing referenced any more; a
/// publish of the same bytes that had committed its blob (found already
/// stored) but not yet its rows then pointed at nothing: 500 forever.
#[tokio::test]
async fn unpublish_never_deletes_a_blob_a_concurrent_publish_references() {
    let s = TestServer::with(&[Reg::local("npm", "internal")], "").await;
    let tgz = tarball("gc-shared", "1.0.0", &[]);
    npm_publish(&s, "gc-old", &tgz).await;
    // B, publishing gc-new with the same bytes, commits its blob.
    let committed = s.app.blobs.commit(put(&s.app.blobs, tgz.clone()).await).await.expect("commit");
    // A unpublishes gc-old meanwhile.
    let r = client()
        .delete(format!("{}/gc-old/-rev/1-x", s.reg("internal")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("unpublish");
    assert_eq!(r.status(), 200);
    // B writes its rows: its download works.
    write_rows(&s, "gc-new", committed.digests).await;
    assert_eq!(download(&s, "gc-new").await, (200, tgz));
}

/// A publish refused inside its transaction (a package that appeared since
/// its write check) used to delete the blob it had stored if no row
/// referenced it yet, although a concurrent publish of the same bytes had
/// found that blob stored (so kept nothing of its own) and wrote its rows
/// just after.
#[tokio::test]
async fn a_refused_publish_never_deletes_a_blob_a_concurrent_publish_references() {
    let s = TestServer::with(&[Reg::local("npm", "internal")], "").await;
    npm_publish(&s, "gc-taken", &tarball("gc-taken", "1.0.0", &[])).await;
    let tgz = tarball("gc-racing", "1.0.0", &[]);
    // A: bob's first publish of gc-taken@2.0.0 passed its write check before
    // alice's package existed; its transaction refuses it.
    let bob = Principal {
        user_id: Some("bob".into()),
        role: Role::User,
        groups: vec![],
        provider: "token".into(),
        lineage: Default::default(),
    };
    let pending = put(&s.app.blobs, tgz.clone()).await;
    let digests = pending.digests.clone();
    let version = NewVersion {
        registry: "internal".into(),
        name: "gc-taken".into(),
        display_name: "gc-taken".into(),
        version: "2.0.0".into(),
        metadata: "{}".into(),
        files: vec![],
        published_by: Some("bob".into()),
        tags: vec![],
        visibility: Visibility::Public,
        append: false,
    };
    let file = batlehub::registry::PublishFile {
        filename: "gc-taken-2.0.0.tgz".into(),
        pending,
        content_type: "application/octet-stream".into(),
        metadata: "{}".into(),
    };
    let registry = s.app.registry("internal").expect("registry");
    let refused =
        batlehub::registry::commit_publish(&s.app.blobs, &s.app.catalog, registry, &bob, None, version, vec![file]);
    assert_eq!(refused.await.expect_err("refused").status(), 403);
    // B (the same bytes, as gc-racing) committed its blob during A's
    // transaction, finding it stored; now it writes its rows.
    write_rows(&s, "gc-racing", digests).await;
    assert_eq!(download(&s, "gc-racing").await, (200, tgz));
}

/// Write the test server's configuration where the binary can read it.
async fn config_file(s: &TestServer, toml: &str) -> std::path::PathBuf {
    let path = s.data.join("batlehub.toml");
    std::fs::write(&path, config_text(&s.data, toml).await).expect("write config");
    path
}

async fn run(args: &[&str], config: &std::path::Path) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .await
        .expect("run batlehub");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn gc_removes_only_unreferenced_blobs_older_than_the_grace_period() {
    let toml = config(&Reg::local("npm", "internal").toml());
    let s = TestServer::start(&toml).await;
    let file = config_file(&s, &toml).await;
    let tgz = tarball("gc-kept", "1.0.0", &[]);
    npm_publish(&s, "gc-kept", &tgz).await;
    let referenced = stored_blobs(&s).await;
    assert_eq!(referenced.len(), 1);
    let store = &s.app.blobs;
    let old = store.commit(put(store, b"an old orphan".to_vec()).await).await.expect("commit").digests.sha256;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let young = store.commit(put(store, b"a young orphan".to_vec()).await).await.expect("commit").digests.sha256;
    // Stored without a lease (copied in by hand, or before leases existed).
    let unleased = BlobStore::attach(&s.app.config.storage).await.expect("attach");
    let unleased = unleased.commit(put(&unleased, b"unleased".to_vec()).await).await.expect("commit").digests.sha256;
    assert_eq!(stored_blobs(&s).await.len(), 4);

    let (ok, out) = run(&["gc", "--grace-secs", "2"], &file).await;
    assert!(ok, "{out}");
    assert!(out.contains("4 blobs examined: 1 deleted"), "{out}");
    let mut left = stored_blobs(&s).await;
    left.sort();
    let mut want = vec![referenced[0].clone(), young.clone(), unleased.clone()];
    want.sort();
    assert_eq!(left, want, "only the old orphan ({old}) goes");

    // The configured grace period (a day) keeps every orphan.
    let (ok, out) = run(&["gc"], &file).await;
    assert!(ok && out.contains("0 deleted"), "{out}");
    assert_eq!(stored_blobs(&s).await.len(), 3);

    // No grace period: every unreferenced blob goes, the referenced one stays.
    let (ok, out) = run(&["gc", "--grace-secs", "0"], &file).await;
    assert!(ok && out.contains("2 deleted"), "{out}");
    assert_eq!(stored_blobs(&s).await, referenced);
    assert_eq!(download(&s, "gc-kept").await, (200, tgz));
}

#[tokio::test]
async fn fsck_reports_missing_and_corrupt_blobs() {
    let toml = config(&Reg::local("npm", "internal").toml());
    let s = TestServer::start(&toml).await;
    let file = config_file(&s, &toml).await;
    npm_publish(&s, "fsck-a", &tarball("fsck-a", "1.0.0", &[])).await;
    let a = stored_blobs(&s).await;
    npm_publish(&s, "fsck-b", &tarball("fsck-b", "1.0.0", &[])).await;
    let b: Vec<String> = stored_blobs(&s).await.into_iter().filter(|x| !a.contains(x)).collect();
    let (a, b) = (a[0].clone(), b[0].clone());

    let (ok, out) = run(&["fsck"], &file).await;
    assert!(ok, "{out}");
    assert!(out.contains("2 referenced blobs checked") && out.contains("0 missing, 0 corrupt"), "{out}");

    s.app.blobs.delete(&b).await.expect("delete");
    let on_disk = s.data.join("storage/blobs/sha256").join(&a[..2]).join(&a[2..4]).join(&a);
    let corrupt = std::env::var("BATLEHUB_TEST_S3").is_err();
    if corrupt {
        std::fs::write(&on_disk, b"not the published bytes").expect("corrupt");
    }
    let (ok, out) = run(&["fsck"], &file).await;
    assert!(!ok, "fsck exits non-zero: {out}");
    assert!(out.contains(&format!("missing: blob {b}")), "{out}");
    if corrupt {
        assert!(out.contains(&format!("corrupt: blob {a}")), "{out}");
    }
}

/// `[registries.cache] max_bytes`: the least recently served cached
/// artifacts and documents are forgotten until the rest fits (access times
/// written in batches, not per hit); an evicted artifact is fetched again
/// on demand, a published one is never touched; `batlehub cache
/// stats|evict` report and apply the same limits; evictions are counted.
#[tokio::test]
async fn cache_limits_evict_the_least_recently_served() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    let names = ["evict-a", "evict-b", "evict-c", "evict-d"];
    let tarballs: Vec<Vec<u8>> = names.iter().map(|n| tarball(n, "1.0.0", &[])).collect();
    for (n, t) in names.iter().zip(&tarballs) {
        up.add(n, "1.0.0", t.clone());
    }
    let registries =
        format!("{}{}", Reg::local("npm", "internal").toml(), Reg::proxy("npm", "mirror", &up.url).open_read().toml());
    // A cap far above what the test caches, so that hits are tracked; the
    // cap that bites is applied below, once the sizes are known.
    let s = TestServer::start(&config(&format!("{registries}[registries.cache]\nmax_bytes = {}\n", 1u64 << 40))).await;
    let c = client();
    let fetch = |name: &str| {
        let url = format!("{}/{name}/-/{name}-1.0.0.tgz", s.reg("mirror"));
        let c = c.clone();
        async move {
            let r = c.get(url).send().await.expect("get");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body").to_vec()
        }
    };
    let path = |name: &str| format!("/{name}/-/{name}-1.0.0.tgz");
    npm_publish(&s, "kept-local", &tarball("kept-local", "1.0.0", &[])).await;
    for n in &names[..3] {
        fetch(n).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // a is served again (a hit: remembered, not written), then d arrives.
    assert_eq!(fetch("evict-a").await, tarballs[0]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    fetch("evict-d").await;
    assert_eq!(s.app.catalog.cache_usage("mirror").await.expect("usage").0, 4);
    // Each tarball came with its packument, kept on disk. Least recently
    // used first: a's packument (a's second tarball download was a hit,
    // which reads no packument), b's packument, b's tarball. A cap that
    // leaves no room for those three evicts exactly them.
    s.app.flush().await;
    let docs = s.app.blobs.doc_entries("mirror").await.expect("documents");
    assert_eq!(docs.len(), 4, "one packument each");
    let (_, artifact_bytes) = s.app.catalog.cache_usage("mirror").await.expect("usage");
    let total = artifact_bytes + docs.iter().map(|d| d.bytes).sum::<u64>();
    let cap = total - docs[0].bytes - docs[1].bytes - tarballs[1].len() as u64;
    let toml = config(&format!("{registries}[registries.cache]\nmax_bytes = {cap}\n"));
    let mut mirror = s.app.config.registries.iter().find(|r| r.name == "mirror").cloned().expect("mirror");
    mirror.cache.max_bytes = Some(cap);
    let evicted = s.app.evict_cache(&mirror).await.expect("evict");
    assert_eq!((evicted.artifacts, evicted.documents), (1, 2), "b's tarball and two packuments are over the cap");
    let (n, bytes) = s.app.catalog.cache_usage("mirror").await.expect("usage");
    let (n_docs, doc_bytes) = s.app.blobs.doc_usage("mirror").await.expect("documents");
    assert!(n == 3 && n_docs == 2 && bytes + doc_bytes <= cap, "{n} artifacts, {n_docs} documents");
    assert!(!docs[0].path.exists() && !docs[1].path.exists(), "the least recently used documents went");
    // b was the least recently served: fetched again from the upstream;
    // a was kept (its hit counted), and so was the published package.
    let (hits_a, hits_b) = (up.hits(&path("evict-a")), up.hits(&path("evict-b")));
    assert_eq!(fetch("evict-b").await, tarballs[1]);
    assert_eq!(up.hits(&path("evict-b")), hits_b + 1, "the evicted artifact is fetched again");
    assert_eq!(fetch("evict-a").await, tarballs[0]);
    assert_eq!(up.hits(&path("evict-a")), hits_a, "a recently served artifact stays cached");
    let local = client().get(format!("{}/kept-local/-/kept-local-1.0.0.tgz", s.reg("internal"))).bearer_auth(ALICE);
    assert_eq!(local.send().await.expect("get").status(), 200);
    assert!(counted("batlehub_cache_evictions_total", "mirror"), "evictions are counted");
    assert!(counted("batlehub_cache_document_evictions_total", "mirror"), "document evictions are counted");
    // The CLI reports and applies the same limits.
    s.app.flush().await;
    let file = config_file(&s, &toml).await;
    let (ok, out) = run(&["cache", "stats"], &file).await;
    assert!(ok && out.contains("mirror: ") && out.contains(&format!("cap {cap} bytes")), "{out}");
    assert!(out.contains("2 documents here"), "{out}");
    let (ok, out) = run(&["cache", "evict"], &file).await;
    assert!(ok && out.contains("mirror: ") && out.contains("evicted"), "{out}");
    let (_, bytes) = s.app.catalog.cache_usage("mirror").await.expect("usage");
    let (_, doc_bytes) = s.app.blobs.doc_usage("mirror").await.expect("documents");
    assert!(bytes + doc_bytes <= cap, "{bytes} + {doc_bytes}");
}

/// Hits are remembered for eviction only where a limit needs when each
/// entry was last used (`max_bytes`, `evict_after_days`): without one, a
/// hit writes nothing and costs no bookkeeping, so the entry fetched first
/// stays the least recently used however often it is served.
#[tokio::test]
async fn hits_are_remembered_only_where_a_limit_needs_them() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    let tarballs: Vec<Vec<u8>> = ["hit-a", "hit-b"].iter().map(|n| tarball(n, "1.0.0", &[])).collect();
    for (n, t) in ["hit-a", "hit-b"].iter().zip(&tarballs) {
        up.add(n, "1.0.0", t.clone());
    }
    for (limit, evicted) in [("", "hit-a"), ("[registries.cache]\nevict_after_days = 365\n", "hit-b")] {
        let s =
            TestServer::start(&config(&format!("{}{limit}", Reg::proxy("npm", "mirror", &up.url).open_read().toml())))
                .await;
        let c = client();
        let url = |n: &str| format!("{}/{n}/-/{n}-1.0.0.tgz", s.reg("mirror"));
        for n in ["hit-a", "hit-b", "hit-a"] {
            assert_eq!(c.get(url(n)).send().await.expect("get").status(), 200);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        s.app.flush().await;
        let mut mirror = s.app.config.registries[0].clone();
        mirror.cache.max_bytes = Some(tarballs[0].len().max(tarballs[1].len()) as u64);
        mirror.cache.evict_after_days = None;
        // Documents aside: only the artifacts are weighed here.
        for d in s.app.blobs.doc_entries("mirror").await.expect("documents") {
            std::fs::remove_file(&d.path).expect("remove");
        }
        assert_eq!(s.app.evict_cache(&mirror).await.expect("evict").artifacts, 1, "{limit}");
        let hits = up.hits(&format!("/{evicted}/-/{evicted}-1.0.0.tgz"));
        assert_eq!(c.get(url(evicted)).send().await.expect("get").status(), 200);
        assert_eq!(up.hits(&format!("/{evicted}/-/{evicted}-1.0.0.tgz")), hits + 1, "{limit}: {evicted} went");
    }
}

/// `[registries.cache] evict_after_days` ages out documents as it does
/// artifacts: by when each was last served (a served document's file is
/// touched in the next batch), never a recently used one.
#[tokio::test]
async fn documents_not_used_for_days_are_evicted() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for n in ["aged", "fresh"] {
        up.add(n, "1.0.0", tarball(n, "1.0.0", &[]));
    }
    let s = TestServer::start(&config(&format!(
        "{}[registries.cache]\nevict_after_days = 1\n",
        Reg::proxy("npm", "mirror", &up.url).open_read().toml()
    )))
    .await;
    let c = client();
    for n in ["aged", "fresh"] {
        let r = c.get(format!("{}/{n}", s.reg("mirror"))).send().await.expect("packument");
        assert_eq!(r.status(), 200);
    }
    s.app.flush().await;
    let docs = s.app.blobs.doc_entries("mirror").await.expect("documents");
    assert_eq!(docs.len(), 2);
    // Both written two days ago, as far as the disk knows; "fresh" is then
    // served again (from memory), which counts as a use.
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
    for d in &docs {
        let f = std::fs::File::options().write(true).open(&d.path).expect("open");
        f.set_modified(two_days_ago).expect("age");
    }
    let r = c.get(format!("{}/fresh", s.reg("mirror"))).send().await.expect("packument");
    assert_eq!(r.status(), 200);
    let asked = up.hits("/aged");
    let evicted = s.app.evict_caches().await;
    assert_eq!(evicted.documents, 1, "only the document unused for two days");
    let left = s.app.blobs.doc_entries("mirror").await.expect("documents");
    assert_eq!(left.len(), 1);
    assert!(left[0].used_at > batlehub::catalog::now_ms() - 60_000, "the kept one was just used");
    // The memory copy still answers; the disk no longer holds it.
    let r = c.get(format!("{}/aged", s.reg("mirror"))).send().await.expect("packument");
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits("/aged"), asked);
}

/// Below `[storage] min_free_bytes` of free disk, no new upstream artifact
/// is fetched into the cache (503, the upstream not even asked, counted and
/// logged) and documents are served but not persisted, while cached
/// artifacts are still served and publishes still land in the reserve;
/// `/healthz` reports the disk low (degraded, still 200).
#[tokio::test]
async fn a_disk_below_its_reserve_refuses_cache_fills_but_takes_publishes() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for n in ["roomy", "cramped"] {
        up.add(n, "1.0.0", tarball(n, "1.0.0", &[]));
    }
    let registries =
        format!("{}{}", Reg::local("npm", "internal").toml(), Reg::proxy("npm", "mirror", &up.url).open_read().toml());
    let s = TestServer::start(&config(&registries)).await;
    let c = client();
    let health = json(c.get(format!("{}/healthz", s.url)).send().await.expect("healthz")).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["disk"]["status"], "ok", "{health}");
    assert!(health["disk"]["free_bytes"].as_u64().is_some_and(|f| f > 0), "{health}");
    assert_eq!(health["disk"]["min_free_bytes"], 1u64 << 30, "the default reserve: 1 GiB");
    let tgz = |n: &str| format!("/{n}/-/{n}-1.0.0.tgz");
    let r = c.get(format!("{}{}", s.reg("mirror"), tgz("roomy"))).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let data = s.data.clone();
    let guard = s.stop().await;

    // The same data folder, now with a reserve no disk has free.
    let reserve = 1u64 << 50;
    let low = config(&registries).replacen(
        "path = \"{DATA}/storage\"\n",
        &format!("path = \"{{DATA}}/storage\"\nmin_free_bytes = {reserve}\n"),
        1,
    );
    let s = TestServer::start_at(&data, &low).await;
    let r = c.get(format!("{}/healthz", s.url)).send().await.expect("healthz");
    assert_eq!(r.status(), 200, "a low disk degrades the replica, it does not take it down");
    let health = json(r).await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["disk"]["status"], "low", "{health}");
    assert_eq!(health["disk"]["min_free_bytes"], reserve);
    // Cached: served as before.
    let hits = up.hits(&tgz("roomy"));
    let r = c.get(format!("{}{}", s.reg("mirror"), tgz("roomy"))).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits(&tgz("roomy")), hits);
    // Metadata is still answered, but not written to disk.
    let docs = crate::support::files_under(&data.join("storage/documents")).len();
    let r = c.get(format!("{}/cramped", s.reg("mirror"))).send().await.expect("packument");
    assert_eq!(r.status(), 200);
    assert_eq!(crate::support::files_under(&data.join("storage/documents")).len(), docs, "no document persisted");
    // Not cached: refused before the upstream is asked, nothing kept.
    let r = c.get(format!("{}{}", s.reg("mirror"), tgz("cramped"))).send().await.expect("get");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("30"), "worth trying again soon");
    let body = r.text().await.expect("body");
    assert!(body.contains("disk is almost full"), "{body}");
    assert_eq!(up.hits(&tgz("cramped")), 0, "the upstream is not asked");
    let rows = s.app.catalog.cache_usage("mirror").await.expect("usage").0;
    assert_eq!(rows, 1, "only the artifact cached before");
    assert!(counted("batlehub_cache_fills_refused_total", "mirror"), "refused fills are counted");
    // Publishes use the reserve.
    npm_publish(&s, "reserved", &tarball("reserved", "1.0.0", &[])).await;
    let r = c.get(format!("{}/reserved/-/reserved-1.0.0.tgz", s.reg("internal"))).bearer_auth(ALICE);
    assert_eq!(r.send().await.expect("get").status(), 200);
    drop(guard);
}

/// The admin API of the caches: `GET .../cache` reports what a proxy holds
/// and its limits, `POST .../cache/evict` applies them now; admins only.
#[tokio::test]
async fn the_admin_api_reports_and_evicts_caches() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    let names = ["api-a", "api-b"];
    let tarballs: Vec<Vec<u8>> = names.iter().map(|n| tarball(n, "1.0.0", &[])).collect();
    for (n, t) in names.iter().zip(&tarballs) {
        up.add(n, "1.0.0", t.clone());
    }
    let cap = tarballs[0].len().max(tarballs[1].len()) as u64;
    let s = TestServer::start(&config(&format!(
        "{}{}[registries.cache]\nmax_bytes = {cap}\nkeep_latest_versions = 3\n",
        Reg::local("npm", "internal").toml(),
        Reg::proxy("npm", "mirror", &up.url).open_read().toml(),
    )))
    .await;
    let c = client();
    for n in names {
        let r = c.get(format!("{}/{n}/-/{n}-1.0.0.tgz", s.reg("mirror"))).send().await.expect("get");
        assert_eq!(r.status(), 200);
    }
    let api = |path: &str| format!("{}/api/v1/admin/registries/{path}", s.url);
    let r = c.get(api("mirror/cache")).bearer_auth(ADMIN).send().await.expect("stats");
    assert_eq!(r.status(), 200);
    let stats = json(r).await;
    assert_eq!(stats["artifacts"], 2, "{stats}");
    assert_eq!(stats["bytes"], (tarballs[0].len() + tarballs[1].len()) as u64, "{stats}");
    assert_eq!(stats["documents"], 2, "the packuments, kept on disk: {stats}");
    assert!(stats["document_bytes"].as_u64().is_some_and(|b| b > 0), "{stats}");
    assert_eq!(stats["limits"]["max_bytes"], cap, "{stats}");
    assert_eq!(stats["limits"]["keep_latest_versions"], 3, "{stats}");
    assert!(stats["limits"]["evict_after_days"].is_null(), "{stats}");
    // Admins only; a local registry caches nothing; unknown ones are 404.
    assert_eq!(c.get(api("mirror/cache")).send().await.expect("anon").status(), 401);
    assert_eq!(c.get(api("mirror/cache")).bearer_auth(ALICE).send().await.expect("user").status(), 403);
    assert_eq!(c.post(api("mirror/cache/evict")).bearer_auth(ALICE).send().await.expect("user").status(), 403);
    assert_eq!(c.get(api("internal/cache")).bearer_auth(ADMIN).send().await.expect("local").status(), 400);
    assert_eq!(c.get(api("nosuch/cache")).bearer_auth(ADMIN).send().await.expect("unknown").status(), 404);
    let r = c.post(api("mirror/cache/evict")).bearer_auth(ADMIN).send().await.expect("evict");
    assert_eq!(r.status(), 200);
    let after = json(r).await;
    assert_eq!(after["evicted"], 1, "{after}");
    assert_eq!(after["evicted_documents"], 2, "both packuments were used before b's tarball: {after}");
    assert_eq!(after["documents"], 0, "{after}");
    assert_eq!(after["artifacts"], 1, "{after}");
    assert!(after["bytes"].as_u64().is_some_and(|b| b <= cap), "{after}");
    assert_eq!(s.app.catalog.cache_usage("mirror").await.expect("usage").0, 1);
}
