//! RubyGems in process: the compact index (MD5s in `/versions`, ETags and
//! 304, ranges), platform gems, the JSON API, and the proxy's gems verified
//! against the upstream's checksums.

use md5::Digest;

use crate::support::builder::Reg;
use crate::support::rubygems::{FakeGems, gem, gem_with_spec, gemspec, push};
use crate::support::{ALICE, TestServer, client};

#[tokio::test]
async fn the_compact_index_serves_what_was_pushed() {
    let s = TestServer::with(&[Reg::local("rubygems", "gems").open_read()], "").await;
    let c = client();
    let reg = s.reg("gems");
    assert_eq!(push(&c, &reg, Some(ALICE), gem("hello", "1.0.0", &[("rack", ">= 2.0")])).await.status, 200);
    // A platform gem is another file of the same version.
    let native = gemspec("hello", "1.0.0", &[]).replace("platform: ruby", "platform: x86_64-linux");
    let r = push(&c, &reg, Some(ALICE), gem_with_spec("hello", "1.0.0", &native)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let info = c.get(format!("{reg}/info/hello")).send().await.expect("info");
    assert_eq!(info.status(), 200);
    let etag = info.headers()["etag"].to_str().expect("etag").to_string();
    assert!(info.headers().contains_key("repr-digest"));
    assert_eq!(info.headers()["accept-ranges"], "bytes");
    let body = info.text().await.expect("body");
    assert!(body.starts_with("---\n1.0.0 rack:>= 2.0|checksum:"), "{body}");
    assert!(body.contains("\n1.0.0-x86_64-linux |checksum:"), "{body}");
    assert_eq!(
        etag,
        format!("\"{}\"", hex::encode(md5::Md5::digest(body.as_bytes()))),
        "the ETag is the MD5 Bundler checks"
    );
    let versions = c.get(format!("{reg}/versions")).send().await.expect("versions").text().await.expect("body");
    let md5 = hex::encode(md5::Md5::digest(body.as_bytes()));
    assert!(versions.contains(&format!("hello 1.0.0,1.0.0-x86_64-linux {md5}\n")), "{versions}");
    // 304 with the ETag; the tail with a range; 416 past the end.
    let r = c.get(format!("{reg}/info/hello")).header("if-none-match", &etag).send().await.expect("304");
    assert_eq!(r.status(), 304);
    let r = c.get(format!("{reg}/info/hello")).header("range", "bytes=4-").send().await.expect("206");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], format!("bytes 4-{}/{}", body.len() - 1, body.len()).as_str());
    assert_eq!(r.text().await.expect("tail"), body[4..]);
    let r = c
        .get(format!("{reg}/info/hello"))
        .header("range", format!("bytes={}-", body.len() + 5))
        .send()
        .await
        .expect("416");
    assert_eq!(r.status(), 416);
    // The gems and the JSON API.
    let r = c.get(format!("{reg}/gems/hello-1.0.0-x86_64-linux.gem")).send().await.expect("gem");
    assert_eq!(r.status(), 200);
    let json: serde_json::Value =
        c.get(format!("{reg}/api/v1/gems/hello.json")).send().await.expect("json").json().await.expect("json");
    assert_eq!(json["version"], "1.0.0");
    assert_eq!(json["dependencies"]["runtime"][0]["name"], "rack");
    let list: serde_json::Value =
        c.get(format!("{reg}/api/v1/versions/hello.json")).send().await.expect("json").json().await.expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    // A repush is refused; a yank takes a gem out of the index.
    let again = push(&c, &reg, Some(ALICE), gem("hello", "1.0.0", &[("rack", ">= 2.0")])).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let r = c
        .delete(format!("{reg}/api/v1/gems/yank?gem_name=hello&version=1.0.0"))
        .header("authorization", ALICE)
        .send()
        .await
        .expect("yank");
    assert_eq!(r.status(), 200);
    // One platform's gem at a time (`ruby` unless named).
    let body = c.get(format!("{reg}/info/hello")).send().await.expect("info").text().await.expect("body");
    assert!(body.starts_with("---\n1.0.0-x86_64-linux |") && !body.contains("\n1.0.0 "), "{body}");
    assert_eq!(c.get(format!("{reg}/gems/hello-1.0.0.gem")).send().await.expect("gem").status(), 404);
    assert_eq!(c.get(format!("{reg}/gems/hello-1.0.0-x86_64-linux.gem")).send().await.expect("gem").status(), 200);
    let r = c
        .delete(format!("{reg}/api/v1/gems/yank"))
        .header("authorization", ALICE)
        .form(&[("gem_name", "hello"), ("version", "1.0.0"), ("platform", "x86_64-linux")])
        .send()
        .await
        .expect("yank");
    assert_eq!(r.status(), 200);
    let body = c.get(format!("{reg}/info/hello")).send().await.expect("info").text().await.expect("body");
    assert_eq!(body, "---\n");
    // And unyanked.
    let r = c
        .put(format!("{reg}/api/v1/gems/unyank"))
        .header("authorization", ALICE)
        .form(&[("gem_name", "hello"), ("version", "1.0.0")])
        .send()
        .await
        .expect("unyank");
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(format!("{reg}/gems/hello-1.0.0.gem")).send().await.expect("gem").status(), 200);
}

#[tokio::test]
async fn the_proxy_verifies_gems_against_the_upstream_checksums() {
    let up = FakeGems::start().await;
    let bytes = gem("remote", "2.0.0", &[]);
    up.add_file("remote", "2.0.0", "remote-2.0.0.gem", bytes.clone());
    let s = TestServer::with(&[Reg::proxy("rubygems", "gems", &up.url).open_read()], "").await;
    let c = client();
    let reg = s.reg("gems");
    let versions = c.get(format!("{reg}/versions")).send().await.expect("versions").text().await.expect("body");
    assert!(versions.contains("remote 2.0.0 "), "{versions}");
    let r = c.get(format!("{reg}/gems/remote-2.0.0.gem")).send().await.expect("gem");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &bytes[..]);
    assert_eq!(c.get(format!("{reg}/gems/nothing-1.0.0.gem")).send().await.expect("gem").status(), 404);
}

#[tokio::test]
async fn the_upload_card_takes_a_gem() {
    let s = TestServer::with(&[Reg::local("rubygems", "gems").open_read()], "").await;
    let (status, page) = crate::support::upload_card(&s, ALICE, "gems", "x.gem", b"not a gem".to_vec(), &[]).await;
    assert_eq!(status, 400, "{page}");
    let (status, page) =
        crate::support::upload_card(&s, ALICE, "gems", "carded-1.0.0.gem", gem("carded", "1.0.0", &[]), &[]).await;
    assert_eq!(status, 201, "{page}");
    let info =
        client().get(format!("{}/info/carded", s.reg("gems"))).send().await.expect("info").text().await.expect("body");
    assert!(info.starts_with("---\n1.0.0 |checksum:"), "{info}");
}
