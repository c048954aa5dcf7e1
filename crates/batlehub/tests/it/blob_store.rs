//! The blob store's contract, on the filesystem and on an S3-compatible
//! server (moto): write-once content addressing, small blobs read whole,
//! big ones streamed (a multipart upload and a streamed download), listing,
//! deleting, health.

use batlehub::blobs::{BlobStore, Readable};
use batlehub::config::Config;
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::support::s3::{Moto, create_bucket, storage_section};

async fn read_all(r: Readable) -> Vec<u8> {
    match r {
        Readable::Memory(b) => b.to_vec(),
        Readable::File(f) => {
            use tokio::io::AsyncReadExt;
            let mut f = f;
            let mut v = Vec::new();
            f.read_to_end(&mut v).await.expect("read");
            v
        }
        Readable::Stream(mut s) => {
            let mut v = Vec::new();
            while let Some(c) = s.next().await {
                v.extend_from_slice(&c.expect("chunk"));
            }
            v
        }
    }
}

async fn put(store: &BlobStore, bytes: Vec<u8>) -> (String, bool) {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        bytes.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let pending = store.put_stream(futures_util::stream::iter(chunks), 1 << 30).await.expect("put");
    let c = store.commit(pending).await.expect("commit");
    (c.digests.sha256, c.newly_stored)
}

async fn contract(store: BlobStore, remote: bool) {
    store.health().await.expect("healthy");
    let small = b"a small blob".to_vec();
    let big: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (s1, new1) = put(&store, small.clone()).await;
    assert!(new1);
    assert_eq!(s1, hex::encode(Sha256::digest(&small)));
    let (s2, new2) = put(&store, small.clone()).await;
    assert_eq!((s2.as_str(), new2), (s1.as_str(), false), "write-once: identical bytes are stored once");
    let (b1, _) = put(&store, big.clone()).await;
    assert!(store.exists(&s1).await.expect("exists") && store.exists(&b1).await.expect("exists"));

    let (r, len) = store.open_readable(&s1).await.expect("open").expect("present");
    assert!(matches!(r, Readable::Memory(_)));
    assert_eq!((read_all(r).await, len), (small.clone(), small.len() as u64));
    let (r, len) = store.open_readable(&b1).await.expect("open").expect("present");
    assert_eq!(matches!(r, Readable::Stream(_)), remote, "big blobs stream from the object store");
    assert_eq!(len, big.len() as u64);
    let back = read_all(r).await;
    assert_eq!(hex::encode(Sha256::digest(&back)), b1, "the big blob reads back whole");

    let mut listed = store.list().await.expect("list");
    listed.sort();
    let mut want = vec![s1.clone(), b1.clone()];
    want.sort();
    assert_eq!(listed, want);

    store.delete(&b1).await.expect("delete");
    store.delete(&b1).await.expect("deleting twice is fine");
    assert!(!store.exists(&b1).await.expect("exists"));
    assert!(store.open_readable(&b1).await.expect("open").is_none());
    assert!(store.open_readable("../../etc/passwd").await.is_err());
    // Nothing is left behind in the local scratch folder.
    assert_eq!(store.list().await.expect("list"), vec![s1]);
}

fn storage_config(section: &str) -> Config {
    batlehub::ecosystems::parse_config(&format!(
        "{section}\n[[registries]]\ntype = \"npm\"\nname = \"x\"\nmode = \"local\"\n"
    ))
    .expect("config")
}

#[tokio::test]
async fn filesystem_store() {
    let dir = tempfile::tempdir().expect("dir");
    let c = storage_config(&format!("[storage]\ntype = \"filesystem\"\npath = \"{}/storage\"", dir.path().display()));
    contract(BlobStore::open(&c.storage).await.expect("store"), false).await;
    assert_eq!(crate::support::files_under(&dir.path().join("storage/tmp")).len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store() {
    let Some(moto) = Moto::start().await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let bucket = create_bucket(&moto.url).await;
    let c = storage_config(&storage_section(dir.path(), &moto.url, &bucket));
    contract(BlobStore::open(&c.storage).await.expect("store"), true).await;
    // Only scratch space is local: no committed blob landed on disk.
    assert_eq!(crate::support::files_under(&dir.path().join("storage/blobs")).len(), 0);
    assert_eq!(crate::support::files_under(&dir.path().join("storage/tmp")).len(), 0);
    // A bucket that does not answer makes the store unhealthy.
    let gone = storage_config(&storage_section(dir.path(), "http://127.0.0.1:9", &bucket));
    assert!(BlobStore::open(&gone.storage).await.expect("store").health().await.is_err());

    // /healthz checks the object store: 200, then 503 naming storage once
    // the S3 server is gone.
    let server_dir = tempfile::tempdir().expect("dir");
    let toml = crate::support::config("[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n");
    let fs = "[storage]\ntype = \"filesystem\"\npath = \"{DATA}/storage\"\n";
    assert!(toml.contains(fs));
    let toml =
        toml.replace(fs, &storage_section(std::path::Path::new("{DATA}"), &moto.url, &create_bucket(&moto.url).await));
    let s = crate::support::TestServer::start_at(server_dir.path(), &toml).await;
    let c = crate::support::client();
    assert_eq!(c.get(format!("{}/healthz", s.url)).send().await.expect("get").status(), 200);
    drop(moto);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = c.get(format!("{}/healthz", s.url)).send().await.expect("get");
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["storage"]["status"], "error", "{v}");
    assert_eq!(v["catalog"]["status"], "ok", "{v}");
}

/// `batlehub migrate-storage` of a populated instance from its folder to a
/// bucket: every artifact then downloads, through a server on the bucket,
/// with its original digest; a second run copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_storage_from_the_filesystem_to_s3() {
    use crate::support::{ALICE, TestServer, client, config, config_text, pypi, stored_blobs};
    let Some(moto) = Moto::start().await else { return };
    let registries = "[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n\n[[registries]]\ntype = \"pypi\"\nname = \"py\"\nmode = \"local\"\n";
    let toml = config(registries);
    let s = TestServer::start(&toml).await;
    let c = client();
    let mut downloads = Vec::new();
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        let (status, body) = crate::support::npm::publish(&c, &s.reg("npm"), ALICE, "moving-lib", v).await;
        assert_eq!(status, 201, "{body}");
        downloads.push(format!("/proxy/npm/moving-lib/-/moving-lib-{v}.tgz"));
    }
    let wheel = pypi::wheel("moving-py", "1.0");
    let (status, body) =
        pypi::upload(&c, &s.reg("py"), ALICE, "moving-py", "1.0", &pypi::wheel_name("moving-py", "1.0"), &wheel).await;
    assert_eq!(status, 200, "{body}");
    downloads.push(format!("/proxy/py/packages/moving-py/{}", pypi::wheel_name("moving-py", "1.0")));
    let mut digests = Vec::new();
    for d in &downloads {
        let bytes =
            c.get(format!("{}{d}", s.url)).bearer_auth(ALICE).send().await.expect("get").bytes().await.expect("bytes");
        digests.push(hex::encode(Sha256::digest(&bytes)));
    }
    let before = stored_blobs(&s).await;
    assert!(before.len() >= 5, "{before:?}");
    let data = s.data.clone();
    let from_text = config_text(&data, &toml).await;
    let keep = s.stop().await;

    let bucket = create_bucket(&moto.url).await;
    let fs_section =
        |t: &str| t[t.find("[storage]").expect("storage")..].split("\n\n").next().expect("section").to_string();
    let to_text = from_text.replace(&fs_section(&from_text), &storage_section(&data, &moto.url, &bucket));
    let (from, to) = (data.join("from.toml"), data.join("to.toml"));
    std::fs::write(&from, &from_text).expect("write");
    std::fs::write(&to, &to_text).expect("write");
    let migrate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_batlehub"))
            .args(["migrate-storage", "--from"])
            .arg(&from)
            .arg("--to")
            .arg(&to)
            .output()
            .expect("run")
    };
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("{} blobs copied, 0 already there", before.len())), "{stdout}");
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("0 blobs copied, {} already there", before.len())), "resumable: {stdout}");

    // A server on the same catalog and the bucket serves every artifact intact.
    let moved = TestServer::start_at(&data, &to_text).await;
    let mut after = stored_blobs(&moved).await;
    after.sort();
    let mut want = before.clone();
    want.sort();
    assert_eq!(after, want);
    for (d, digest) in downloads.iter().zip(&digests) {
        let r = c.get(format!("{}{d}", moved.url)).bearer_auth(ALICE).send().await.expect("get");
        assert_eq!(r.status(), 200, "{d}");
        assert_eq!(&hex::encode(Sha256::digest(r.bytes().await.expect("bytes"))), digest, "{d}");
    }
    drop(keep);
}
