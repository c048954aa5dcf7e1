//! RubyGems in process: the compact index (MD5s in `/versions`, ETags and
//! 304, ranges), platform gems, the JSON API, and the proxy's gems verified
//! against the upstream's checksums.

use std::collections::BTreeMap;

use md5::Digest;

use crate::support::builder::Reg;
use crate::support::rubygems::{FakeGems, gem, gem_with_spec, gemspec, push};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client};

/// `/versions` read as Bundler reads it: per gem, its versions after every
/// line (a `-` takes one away) and the info checksum of its last line.
fn bundler_versions(body: &str) -> BTreeMap<String, (Vec<String>, String)> {
    let mut out: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
    for line in body.split_once("---\n").map_or("", |(_, rest)| rest).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(name), Some(versions)) = (parts.next(), parts.next()) else { continue };
        let entry = out.entry(name.to_string()).or_default();
        entry.1 = parts.next().unwrap_or("").to_string();
        for v in versions.split(',') {
            match v.strip_prefix('-') {
                Some(gone) => entry.0.retain(|x| x != gone),
                None => entry.0.push(v.to_string()),
            }
        }
    }
    out
}

async fn text(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.header("authorization", t);
    }
    let r = r.send().await.expect("get");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn yank(c: &reqwest::Client, reg: &str, name: &str, version: &str, undo: bool) {
    let req =
        if undo { c.put(format!("{reg}/api/v1/gems/unyank")) } else { c.delete(format!("{reg}/api/v1/gems/yank")) };
    let r = req.header("authorization", ALICE).form(&[("gem_name", name), ("version", version)]).send().await;
    assert_eq!(r.expect("yank").status(), 200);
}

/// `/versions` of a group (a member's gems, an upstream's) only ever grows
/// as gems are pushed, yanked and unyanked: a client holding an earlier copy
/// fetches the tail with a range, and the file it assembles is the whole
/// one (its MD5 is the ETag). Every gem's last line carries the MD5 of its
/// `/info`; what a caller may not see is not there; and nothing is read
/// from the catalog while nothing changes.
#[tokio::test]
async fn versions_only_grows_and_is_read_by_its_tail() {
    let up = FakeGems::start().await;
    up.add_file("remote", "2.0.0", "remote-2.0.0.gem", gem("remote", "2.0.0", &[]));
    let s = TestServer::with(
        &[
            Reg::local("rubygems", "private").open_read().namespace("team-", "oidc:my org"),
            Reg::proxy("rubygems", "gems", &up.url).member("private").open_read(),
        ],
        "",
    )
    .await;
    let c = client();
    let (private, group) = (s.reg("private"), s.reg("gems"));
    assert_eq!(push(&c, &private, Some(ALICE), gem("alpha", "1.0.0", &[])).await.status, 200);
    let (status, v1) = text(&c, &format!("{group}/versions"), None).await;
    assert_eq!(status, 200, "{v1}");
    assert!(v1.contains("\nremote 2.0.0 "), "the upstream's gems are listed: {v1}");

    // Nothing changes: no catalog read, however often it is asked.
    let loads = s.app.views.loads();
    for _ in 0..5 {
        assert_eq!(text(&c, &format!("{group}/versions"), None).await.1, v1);
        assert_eq!(text(&c, &format!("{group}/names"), None).await.0, 200);
    }
    assert_eq!(s.app.views.loads(), loads, "an unchanged registry was read from the catalog again");

    assert_eq!(push(&c, &private, Some(ALICE), gem("beta", "1.0.0", &[])).await.status, 200);
    assert_eq!(push(&c, &private, Some(ALICE), gem("alpha", "1.1.0", &[])).await.status, 200);
    let (_, v2) = text(&c, &format!("{group}/versions"), None).await;
    assert!(v2.starts_with(&v1) && v2.len() > v1.len(), "{v1}\n=>\n{v2}");
    assert_eq!(s.app.views.loads(), loads + 1, "one load of the member per change");
    // Bundler's update: the tail from one byte before the end of its copy.
    let r = c.get(format!("{group}/versions")).header("range", format!("bytes={}-", v1.len() - 1)).send().await;
    let r = r.expect("range");
    assert_eq!(r.status(), 206);
    let etag = r.headers()["etag"].to_str().expect("etag").trim_matches('"').to_string();
    let tail = r.text().await.expect("tail");
    let assembled = format!("{v1}{}", &tail[1..]);
    assert_eq!(assembled, v2);
    assert_eq!(hex::encode(md5::Md5::digest(assembled.as_bytes())), etag);

    // A yank and an unyank add lines too.
    yank(&c, &private, "alpha", "1.0.0", false).await;
    let (_, v3) = text(&c, &format!("{group}/versions"), None).await;
    assert!(v3.starts_with(&v2), "{v2}\n=>\n{v3}");
    let info = text(&c, &format!("{group}/info/alpha"), None).await.1;
    assert_eq!(
        bundler_versions(&v3)["alpha"],
        (vec!["1.1.0".to_string()], hex::encode(md5::Md5::digest(info.as_bytes())))
    );
    yank(&c, &private, "alpha", "1.0.0", true).await;
    let (_, v4) = text(&c, &format!("{group}/versions"), None).await;
    assert!(v4.starts_with(&v3), "{v3}\n=>\n{v4}");
    let info = text(&c, &format!("{group}/info/alpha"), None).await.1;
    let read = bundler_versions(&v4);
    assert_eq!(
        read["alpha"],
        (vec!["1.1.0".to_string(), "1.0.0".to_string()], hex::encode(md5::Md5::digest(info.as_bytes())))
    );
    let info = text(&c, &format!("{group}/info/beta"), None).await.1;
    assert_eq!(read["beta"].1, hex::encode(md5::Md5::digest(info.as_bytes())));

    // A team gem: only its team sees it, in /versions, /names and specs.
    assert_eq!(push(&c, &private, Some(ALICE), gem("team-secret", "1.0.0", &[])).await.status, 200);
    let r = c
        .put(format!("{}/api/v1/registries/private/packages/team-secret/visibility", s.url))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({ "visibility": "team" }))
        .send()
        .await
        .expect("visibility");
    assert_eq!(r.status(), 200);
    for (who, sees) in [(None, false), (Some(BOB), false), (Some(ALICE), true), (Some(ADMIN), true)] {
        let (_, versions) = text(&c, &format!("{group}/versions"), who).await;
        assert_eq!(versions.contains("\nteam-secret "), sees, "{who:?}: {versions}");
        let (_, names) = text(&c, &format!("{group}/names"), who).await;
        assert_eq!(names.lines().any(|l| l == "team-secret"), sees, "{who:?}: {names}");
    }
}

/// The registry-wide documents list every gem, however many (no cap on
/// the listing), and the legacy specs index of a group holds the member's
/// gems beside the upstream's.
#[tokio::test]
async fn registry_wide_documents_have_every_gem_and_merge_the_upstream_specs() {
    use batlehub::ecosystems::rubygems::marshal::{self, Value};
    let up = FakeGems::start().await;
    up.add_file("remote", "2.0.0", "remote-2.0.0.gem", gem("remote", "2.0.0", &[]));
    // The upstream also lists `gem0005`, a name the member holds: it must
    // not appear as the upstream's.
    up.add_file("gem0005", "9.9.9", "gem0005-9.9.9.gem", gem("gem0005", "9.9.9", &[]));
    let s = TestServer::with(
        &[
            Reg::local("rubygems", "private").open_read(),
            Reg::proxy("rubygems", "gems", &up.url).member("private").open_read(),
        ],
        "",
    )
    .await;
    let count = 1_100;
    for i in 0..count {
        let name = format!("gem{i:04}");
        let spec = batlehub::ecosystems::rubygems::gem::Spec {
            name: name.clone(),
            version: "1.0.0".into(),
            platform: "ruby".into(),
            dependencies: Vec::new(),
            required_ruby_version: None,
            required_rubygems_version: None,
            summary: None,
            authors: Vec::new(),
            licenses: Vec::new(),
            yanked: false,
        };
        let file = batlehub::catalog::NewFile {
            filename: format!("{name}-1.0.0.gem"),
            blob: batlehub::catalog::BlobDigests {
                sha256: format!("{:064x}", i),
                sha1: String::new(),
                sha512: String::new(),
                md5: String::new(),
                size: 1,
            },
            content_type: "application/octet-stream".into(),
            metadata: serde_json::to_string(&spec).expect("spec"),
        };
        let v = batlehub::catalog::NewVersion {
            registry: "private".into(),
            name: name.clone(),
            display_name: name,
            version: "1.0.0".into(),
            metadata: "{}".into(),
            files: vec![file],
            published_by: Some("alice".into()),
            tags: Vec::new(),
            visibility: batlehub::access::Visibility::Public,
            append: true,
        };
        s.app.catalog.publish_version(&v, Some("alice"), &|_| true, &[]).await.expect("publish");
    }
    let c = client();
    let group = s.reg("gems");
    let (_, versions) = text(&c, &format!("{group}/versions"), None).await;
    let read = bundler_versions(&versions);
    assert_eq!(read.keys().filter(|n| n.starts_with("gem")).count(), count);
    assert_eq!(read["gem0005"].0, vec!["1.0.0".to_string()], "the member's gem0005, never the upstream's");
    assert!(read.contains_key("remote"));
    let (_, names) = text(&c, &format!("{group}/names"), None).await;
    assert_eq!(names.lines().filter(|l| l.starts_with("gem")).count(), count);

    // specs.4.8.gz: the upstream's (Ruby 3.1's own encoding of two tuples,
    // the platform string shared by a link) without gem0005, then the
    // member's gems.
    let upstream_specs = hex::decode(
        "04085b075b0849220b72656d6f7465063a064554553a1147656d3a3a56657273696f6e5b0649220a322e302e30063b00544922097275\
         6279063b00545b0849220c67656d30303035063b0054553b065b0649220a392e392e39063b0054400b",
    )
    .expect("hex");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &upstream_specs).expect("gz");
    up.add_raw("specs.4.8.gz", gz.finish().expect("gz"));
    let r = c.get(format!("{group}/specs.4.8.gz")).send().await.expect("specs");
    assert_eq!(r.status(), 200);
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&r.bytes().await.expect("body")[..]), &mut raw)
        .expect("gunzip");
    let Value::Array(entries) = marshal::load(&raw).expect("marshal") else { panic!("not a list") };
    let tuples: Vec<(String, String)> = entries
        .iter()
        .map(|e| match e {
            Value::Array(t) => match (&t[0], marshal::version_of(&t[1])) {
                (Value::Str(n), Some(v)) => (n.clone(), v.to_string()),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tuples.len(), count + 1, "the upstream's remote and every member gem");
    assert_eq!(tuples[0], ("remote".to_string(), "2.0.0".to_string()));
    assert!(tuples.contains(&("gem0005".to_string(), "1.0.0".to_string())));
    assert!(!tuples.contains(&("gem0005".to_string(), "9.9.9".to_string())), "the upstream's gem0005 is left out");

    // The dependency API: the member's gems answered here, the rest asked
    // of the upstream (Ruby's encoding of one entry).
    let deps = hex::decode(
        "04085b067b093a096e616d6549220b72656d6f7465063a0645543a0b6e756d62657249220a322e302e30063b06543a0d706c617466\
         6f726d49220972756279063b06543a11646570656e64656e636965735b00",
    )
    .expect("hex");
    up.add_raw("api/v1/dependencies", deps);
    let r = c.get(format!("{group}/api/v1/dependencies?gems=gem0001,remote")).send().await.expect("deps");
    assert_eq!(r.status(), 200);
    let Value::Array(entries) = marshal::load(&r.bytes().await.expect("body")).expect("marshal") else { panic!() };
    let names: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            Value::Hash(p) => p.iter().find_map(|(k, v)| match (k, v) {
                (Value::Symbol(k), Value::Str(n)) if k == "name" => Some(n.clone()),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert_eq!(names, vec!["gem0001".to_string(), "remote".to_string()]);
    let asked = up.paths().into_iter().filter(|p| p.contains("dependencies")).count();
    assert_eq!(asked, 1);
}

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
    // One line per push, the last one with the MD5 of the info as it is now.
    assert!(versions.contains("\nhello 1.0.0 "), "{versions}");
    assert!(versions.ends_with(&format!("\nhello 1.0.0-x86_64-linux {md5}\n")), "{versions}");
    let read = bundler_versions(&versions);
    assert_eq!(read["hello"], (vec!["1.0.0".to_string(), "1.0.0-x86_64-linux".to_string()], md5));
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
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Published "), "{page}");
    let info =
        client().get(format!("{}/info/carded", s.reg("gems"))).send().await.expect("info").text().await.expect("body");
    assert!(info.starts_with("---\n1.0.0 |checksum:"), "{info}");
}
