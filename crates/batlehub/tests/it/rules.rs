//! Supply-chain rules (`[[registries.rules]]`) on npm: versions too young
//! or denied are withheld from packuments (dist-tags moved to what is
//! allowed) and refused on download, cached or not; bypass groups see them;
//! the configuration refuses rules it cannot apply.

use serde_json::Value;

use crate::support::builder::Reg;
use crate::support::npm::tarball;
use crate::support::{ADMIN, TestServer, client, config, hours_ago, json};

fn versions(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["versions"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    v.sort();
    v
}

fn denials(rule: &str) -> f64 {
    let prefix = format!("batlehub_rule_denials_total{{registry=\"mirror\",rule=\"{rule}\"}} ");
    batlehub::app::prometheus()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0.0)
}

async fn server(up: &str, rules: &str) -> TestServer {
    TestServer::start(&config(&format!("{}{rules}", Reg::proxy("npm", "mirror", up).open_read().toml()))).await
}

#[tokio::test]
async fn release_age_withholds_young_npm_versions_everywhere() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for (v, hours) in [("1.0.0", 24 * 400), ("1.1.0", 24 * 10), ("2.0.0", 1), ("2.1.0-beta.1", 1)] {
        up.add("cooling", v, tarball("cooling", v, &[]));
        up.set_published("cooling", v, Some(&hours_ago(hours)));
    }
    up.add("cooling", "1.2.0", tarball("cooling", "1.2.0", &[]));
    up.set_published("cooling", "1.2.0", None);
    up.add("fresh", "1.0.0", tarball("fresh", "1.0.0", &[]));
    up.set_published("fresh", "1.0.0", Some(&hours_ago(2)));
    let s = server(&up.url, "[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\nbypass = [\"admin\"]\n")
        .await;
    let c = client();
    let base = s.reg("mirror");
    let before = denials("release_age");

    // The packument lists only versions at least 72 h old (1.2.0 has no
    // publish time: withheld by default); latest moves to the newest of them.
    let doc = json(c.get(format!("{base}/cooling")).send().await.expect("packument")).await;
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0"], "{doc}");
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0", "{doc}");
    assert!(doc["time"].get("2.0.0").is_none(), "{doc}");
    let abbreviated = c
        .get(format!("{base}/cooling"))
        .header("accept", "application/vnd.npm.install-v1+json")
        .send()
        .await
        .expect("abbreviated");
    let abbreviated = json(abbreviated).await;
    assert_eq!(versions(&abbreviated), ["1.0.0", "1.1.0"], "{abbreviated}");
    assert_eq!(abbreviated["dist-tags"]["latest"], "1.1.0");
    let tags = json(c.get(format!("{base}/-/package/cooling/dist-tags")).send().await.expect("tags")).await;
    assert_eq!(tags["latest"], "1.1.0", "{tags}");
    let latest = json(c.get(format!("{base}/cooling/latest")).send().await.expect("latest")).await;
    assert_eq!(latest["version"], "1.1.0", "{latest}");

    // A young version is refused by name and by tarball, saying why and until when.
    let r = c.get(format!("{base}/cooling/2.0.0")).send().await.expect("manifest");
    assert_eq!(r.status(), 403);
    let r = c.get(format!("{base}/cooling/-/cooling-2.0.0.tgz")).send().await.expect("tarball");
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    let message = body["error"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("cooling@2.0.0") && message.contains("release_age") && message.contains("until"),
        "{body}"
    );
    let r = c.get(format!("{base}/cooling/-/cooling-1.2.0.tgz")).send().await.expect("tarball");
    assert_eq!(r.status(), 403, "no publish time: withheld");
    assert_eq!(up.hits("/cooling/-/cooling-2.0.0.tgz"), 0, "a refused version is never fetched");
    let r = c.get(format!("{base}/cooling/-/cooling-1.1.0.tgz")).send().await.expect("tarball");
    assert_eq!(r.status(), 200);
    assert!(denials("release_age") >= before + 3.0, "denials are counted");

    // The bypass (admins here) sees and downloads everything; the tarball
    // is then cached, and still refused to everyone else.
    let doc = json(c.get(format!("{base}/cooling")).bearer_auth(ADMIN).send().await.expect("admin")).await;
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0-beta.1"], "{doc}");
    let r = c.get(format!("{base}/cooling/-/cooling-2.0.0.tgz")).bearer_auth(ADMIN).send().await.expect("admin");
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{base}/cooling/-/cooling-2.0.0.tgz")).send().await.expect("cached");
    assert_eq!(r.status(), 403, "a cached young tarball is withheld too");

    // The simulator says the same, rule by rule, for the caller asking.
    let sim = |v: &str| format!("{}/api/v1/registries/mirror/packages/cooling/versions/{v}/rules", s.url);
    let young = json(c.get(sim("2.0.0")).send().await.expect("simulate")).await;
    assert_eq!(young["allowed"], false, "{young}");
    assert_eq!(young["rules"][0]["type"], "release_age", "{young}");
    assert_eq!(young["rules"][0]["allowed"], false, "{young}");
    assert!(young["rules"][0]["reason"].as_str().is_some_and(|r| r.contains("until")), "{young}");
    assert!(young["rules"][0]["available_at"].is_string() && young["published_at"].is_string(), "{young}");
    let old = json(c.get(sim("1.1.0")).send().await.expect("simulate")).await;
    assert_eq!(old["allowed"], true, "{old}");
    let bypassed = json(c.get(sim("2.0.0")).bearer_auth(ADMIN).send().await.expect("simulate")).await;
    assert_eq!(bypassed["allowed"], true, "the bypass: {bypassed}");
    assert_eq!(c.get(sim("9.9.9")).send().await.expect("simulate").status(), 404);

    // Nothing old enough: the packument itself is refused, saying why.
    let r = c.get(format!("{base}/fresh")).send().await.expect("packument");
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert!(body["error"].as_str().is_some_and(|m| m.contains("fresh@1.0.0") && m.contains("until")), "{body}");
}

#[tokio::test]
async fn version_rules_deny_and_pin_npm_ranges() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for v in ["1.4.0", "1.4.1", "1.4.2"] {
        up.add("colors", v, tarball("colors", v, &[]));
    }
    for v in ["4.17.20", "4.17.21", "5.0.0"] {
        up.add("lodash", v, tarball("lodash", v, &[]));
    }
    let s = server(
        &up.url,
        "[[registries.rules]]\ntype = \"version\"\ndeny = [\"colors@>=1.4.1\"]\nallow = [\"lodash@^4.17.21\"]\n",
    )
    .await;
    let c = client();
    let base = s.reg("mirror");
    let before = denials("version");
    let doc = json(c.get(format!("{base}/colors")).send().await.expect("packument")).await;
    assert_eq!(versions(&doc), ["1.4.0"], "{doc}");
    assert_eq!(doc["dist-tags"]["latest"], "1.4.0", "{doc}");
    let doc = json(c.get(format!("{base}/lodash")).send().await.expect("packument")).await;
    assert_eq!(versions(&doc), ["4.17.21"], "{doc}");
    let r = c.get(format!("{base}/colors/-/colors-1.4.2.tgz")).send().await.expect("tarball");
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert!(body["error"].as_str().is_some_and(|m| m.contains("colors@>=1.4.1")), "{body}");
    assert_eq!(c.get(format!("{base}/lodash/-/lodash-5.0.0.tgz")).send().await.expect("tgz").status(), 403);
    assert_eq!(c.get(format!("{base}/lodash/-/lodash-4.17.21.tgz")).send().await.expect("tgz").status(), 200);
    let sim = format!("{}/api/v1/registries/mirror/packages/colors/versions/1.4.2/rules", s.url);
    let denied = json(c.get(sim).send().await.expect("simulate")).await;
    assert_eq!(
        (denied["allowed"].clone(), denied["rules"][0]["type"].clone()),
        (false.into(), "version".into()),
        "{denied}"
    );
    // Version rules know no bypass: admins are refused too.
    let r = c.get(format!("{base}/colors/-/colors-1.4.1.tgz")).bearer_auth(ADMIN).send().await.expect("admin");
    assert_eq!(r.status(), 403);
    assert!(denials("version") >= before + 3.0);
}

/// PyPI: the simple page (JSON, whose PEP 700 `upload-time` dates each
/// file) lists only what the rules allow, in both formats; files of
/// withheld versions, and their metadata, are refused; PEP 440 specifiers.
#[tokio::test]
async fn rules_withhold_young_and_denied_pypi_versions() {
    use crate::support::pypi::{FakeSimple, sdist, sdist_name, wheel, wheel_name};
    let up = FakeSimple::start(true).await;
    for (v, hours) in [("1.0", 24 * 400), ("1.1", 24 * 10), ("2.0", 1)] {
        up.add("demo", &wheel_name("demo", v), wheel("demo", v));
        up.add("demo", &sdist_name("demo", v), sdist("demo", v));
        up.set_published("demo", v, Some(&hours_ago(hours)));
    }
    let s = TestServer::start(&config(&format!(
        "{}[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"3d\"\n[[registries.rules]]\ntype = \"version\"\ndeny = [\"Demo@==1.0\"]\n",
        Reg::proxy("pypi", "mirror", &up.simple()).open_read().toml()
    )))
    .await;
    let c = client();
    let base = s.reg("mirror");
    let page = c
        .get(format!("{base}/simple/demo/"))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let page = json(page).await;
    let files: Vec<&str> =
        page["files"].as_array().expect("files").iter().filter_map(|f| f["filename"].as_str()).collect();
    assert_eq!(files.len(), 2, "only 1.1's wheel and sdist: {page}");
    assert!(files.iter().all(|f| f.contains("1.1")), "{page}");
    let html = c.get(format!("{base}/simple/demo/")).send().await.expect("html").text().await.expect("body");
    assert!(html.contains(&wheel_name("demo", "1.1")) && !html.contains(&wheel_name("demo", "2.0")), "{html}");
    assert!(!html.contains(&sdist_name("demo", "1.0")), "1.0 is denied: {html}");
    for (file, rule) in [(wheel_name("demo", "2.0"), "release_age"), (sdist_name("demo", "1.0"), "version")] {
        let r = c.get(format!("{base}/packages/demo/{file}")).send().await.expect("file");
        assert_eq!(r.status(), 403, "{file}");
        let text = r.text().await.expect("body");
        assert!(text.contains(rule), "{file}: {text}");
    }
    let r = c.get(format!("{base}/packages/demo/{}.metadata", wheel_name("demo", "2.0"))).send().await.expect("meta");
    assert_eq!(r.status(), 403, "the metadata of a withheld wheel");
    let r = c.get(format!("{base}/packages/demo/{}", wheel_name("demo", "1.1"))).send().await.expect("file");
    assert_eq!(r.status(), 200);
    let sim = format!("{}/api/v1/registries/mirror/packages/Demo/versions/1.0/rules", s.url);
    let sim = json(c.get(sim).send().await.expect("simulate")).await;
    assert_eq!(sim["package"], "demo", "{sim}");
    assert_eq!(sim["rules"][0]["allowed"], true, "1.0 is old: {sim}");
    assert_eq!(sim["rules"][1]["allowed"], false, "but denied: {sim}");
}

/// Cargo: index files keep only the lines of allowed versions (their age
/// from the line's `pubtime`; a line without one is withheld by default),
/// downloads of withheld versions are refused; cargo requirements.
#[tokio::test]
async fn rules_withhold_young_and_denied_cargo_versions() {
    use crate::support::cargo::{CargoFixture, FakeIndex};
    use crate::support::fixture::Fixture;
    let up = FakeIndex::start(true).await;
    for (v, hours) in [("1.0.0", 24 * 400), ("1.1.0", 24 * 10), ("1.2.0", 1)] {
        up.add("aged-crate", v);
        up.set_published("aged-crate", v, Some(&hours_ago(hours)));
    }
    up.add("aged-crate", "1.3.0");
    up.set_published("aged-crate", "1.3.0", None);
    let s = TestServer::start(&config(&format!(
        "{}[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\n[[registries.rules]]\ntype = \"version\"\ndeny = [\"aged-crate@<1.1\"]\n",
        Reg::proxy("cargo", "mirror", &up.index()).open_read().toml()
    )))
    .await;
    let c = client();
    let base = s.reg("mirror");
    let r = c.get(format!("{base}{}", CargoFixture::listing("aged-crate"))).send().await.expect("index");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("line")).collect();
    assert_eq!(lines.len(), 1, "only 1.1.0: {body}");
    assert_eq!(lines[0]["vers"], "1.1.0");
    for (v, rule) in [("1.2.0", "release_age"), ("1.3.0", "no publish time"), ("1.0.0", "version")] {
        let r = c.get(format!("{base}{}", CargoFixture::artifact("aged-crate", v))).send().await.expect("download");
        assert_eq!(r.status(), 403, "{v}");
        let text = r.text().await.expect("body");
        assert!(text.contains(rule), "{v}: {text}");
    }
    let r = c.get(format!("{base}{}", CargoFixture::artifact("aged-crate", "1.1.0"))).send().await.expect("download");
    assert_eq!(r.status(), 200);
    let sim = format!("{}/api/v1/registries/mirror/packages/aged-crate/versions/1.3.0/rules", s.url);
    let sim = json(c.get(sim).send().await.expect("simulate")).await;
    assert!(sim["published_at"].is_null() && sim["allowed"] == false, "{sim}");
    assert!(sim["rules"][0]["reason"].as_str().is_some_and(|r| r.contains("no publish time")), "{sim}");
}

#[test]
fn rules_the_registry_cannot_apply_are_refused_by_the_configuration() {
    let parse =
        |registry: &str| batlehub::ecosystems::parse_config(&config(registry)).map(|_| ()).map_err(|e| e.to_string());
    let age = "[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\n";
    let ok = format!("{}{age}", Reg::proxy("npm", "mirror", "http://127.0.0.1:1/").toml());
    assert_eq!(parse(&ok), Ok(()));
    let cases = [
        (format!("{}{age}", Reg::local("npm", "internal").toml()), "only with `local = true`"),
        (
            format!(
                "{}[[registries.rules]]\ntype = \"licence\"\ndeny = [\"GPL-3.0-only\"]\n",
                Reg::proxy("goproxy", "gomods", "http://127.0.0.1:1/").toml()
            ),
            "declares no licences",
        ),
        (
            format!(
                "{}[[registries.rules]]\ntype = \"advisories\"\nsource = \"/osv\"\n",
                Reg::proxy("conda", "forge", "http://127.0.0.1:1/").toml()
            ),
            "OSV has no advisories",
        ),
        (
            format!(
                "{}[[registries.rules]]\ntype = \"version\"\ndeny = [\"a@^1\"]\n",
                Reg::proxy("pypi", "py", "http://127.0.0.1:1/simple/").toml()
            ),
            "not a PEP 440 version specifier",
        ),
        (
            format!(
                "{}[[registries.rules]]\ntype = \"version\"\ndeny = [\"a@>>1\"]\n",
                Reg::proxy("cargo", "crates", "sparse+http://127.0.0.1:1/").toml()
            ),
            "not a cargo version requirement",
        ),
        (
            format!(
                "{}[[registries.rules]]\ntype = \"version\"\ndeny = [\"a@^^1\"]\n",
                Reg::proxy("npm", "m", "http://127.0.0.1:1/").toml()
            ),
            "not an npm range",
        ),
        (
            format!(
                "{}[[registries.rules]]\ntype = \"release_age\"\nmin_age = \"soon\"\n",
                Reg::proxy("npm", "m", "http://127.0.0.1:1/").toml()
            ),
            "not a duration",
        ),
    ];
    for (text, wanted) in cases {
        let err = parse(&text).expect_err(wanted);
        assert!(err.contains(wanted), "{wanted}: {err}");
    }
}

/// An OSV record naming `versions` (or every version, when empty) of
/// `name` in `ecosystem`.
fn osv_record(id: &str, ecosystem: &str, name: &str, versions: &[&str], severity: Option<&str>) -> Value {
    let affected = if versions.is_empty() {
        serde_json::json!({"package": {"ecosystem": ecosystem, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]})
    } else {
        serde_json::json!({"package": {"ecosystem": ecosystem, "name": name}, "versions": versions})
    };
    let mut record = serde_json::json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-11-01T00:00:00Z",
        "summary": format!("{id} in {name}"),
        "affected": [affected],
    });
    if let Some(s) = severity {
        record["database_specific"] = serde_json::json!({"severity": s});
    }
    record
}

fn write_record(dir: &std::path::Path, record: &Value) {
    let id = record["id"].as_str().expect("id");
    std::fs::write(dir.join(format!("{id}.json")), serde_json::to_vec_pretty(record).expect("json")).expect("write");
}

fn zip_of(records: &[Value]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for r in records {
        let id = r["id"].as_str().expect("id");
        w.start_file(format!("{id}.json"), zip::write::SimpleFileOptions::default()).expect("entry");
        w.write_all(&serde_json::to_vec(r).expect("json")).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

async fn advisories_admin(s: &TestServer, registry: &str, refresh: bool) -> reqwest::Response {
    let url = format!("{}/api/v1/admin/registries/{registry}/advisories", s.url);
    let c = client();
    let req = if refresh { c.post(format!("{url}/refresh")) } else { c.get(url) };
    req.bearer_auth(ADMIN).send().await.expect("advisories admin")
}

/// npm with an OSV folder: a `MAL-` record blocks the whole package (the
/// packument answers 403 naming it), a vulnerability at or above
/// `min_severity` withholds its versions (latest moves off them), one
/// below passes; a new record is picked up by a refresh; the simulator and
/// the admin API name what was read.
#[tokio::test]
async fn advisories_from_an_osv_folder_block_npm_packages_and_refresh_picks_up_new_records() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for v in ["1.0.0", "1.1.0"] {
        up.add("evil-pkg", v, tarball("evil-pkg", v, &[]));
    }
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        up.add("vuln-lib", v, tarball("vuln-lib", v, &[]));
    }
    let osv = tempfile::tempdir().expect("osv folder");
    std::fs::create_dir(osv.path().join("nested")).expect("nested");
    write_record(osv.path(), &osv_record("MAL-2026-0001", "npm", "evil-pkg", &[], None));
    write_record(
        &osv.path().join("nested"),
        &osv_record("GHSA-aaaa-bbbb-cccc", "npm", "vuln-lib", &["1.2.0"], Some("HIGH")),
    );
    write_record(osv.path(), &osv_record("GHSA-low0-low0-low0", "npm", "vuln-lib", &["1.1.0"], Some("LOW")));
    write_record(osv.path(), &osv_record("PYSEC-2026-1", "PyPI", "vuln-lib", &["1.0.0"], Some("CRITICAL")));
    std::fs::write(osv.path().join("broken.json"), b"{not json").expect("write");
    let s = server(
        &up.url,
        &format!(
            "[[registries.rules]]\ntype = \"advisories\"\nsource = \"{}\"\nmin_severity = \"moderate\"\n",
            osv.path().display()
        ),
    )
    .await;
    let c = client();
    let base = s.reg("mirror");
    let before = denials("advisories");

    let r = c.get(format!("{base}/evil-pkg")).send().await.expect("packument");
    assert_eq!(r.status(), 403, "a malicious package is not listed at all");
    let body = json(r).await;
    assert!(body["error"].as_str().is_some_and(|m| m.contains("MAL-2026-0001") && m.contains("malicious")), "{body}");
    let r = c.get(format!("{base}/evil-pkg/-/evil-pkg-1.0.0.tgz")).bearer_auth(ADMIN).send().await.expect("tgz");
    assert_eq!(r.status(), 403, "advisories know no bypass");
    assert_eq!(up.hits("/evil-pkg/-/evil-pkg-1.0.0.tgz"), 0, "never fetched");

    let doc = json(c.get(format!("{base}/vuln-lib")).send().await.expect("packument")).await;
    assert_eq!(
        versions(&doc),
        ["1.0.0", "1.1.0"],
        "high withheld, low below the floor, PyPI's record not npm's: {doc}"
    );
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0", "{doc}");
    let r = c.get(format!("{base}/vuln-lib/-/vuln-lib-1.2.0.tgz")).send().await.expect("tgz");
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert!(body["error"].as_str().is_some_and(|m| m.contains("GHSA-aaaa-bbbb-cccc") && m.contains("high")), "{body}");
    assert!(denials("advisories") >= before + 3.0, "counted");

    let sim = format!("{}/api/v1/registries/mirror/packages/vuln-lib/versions/1.2.0/rules", s.url);
    let sim = json(c.get(&sim).send().await.expect("simulate")).await;
    assert_eq!(sim["allowed"], false, "{sim}");
    assert_eq!(sim["rules"][0]["type"], "advisories", "{sim}");
    assert_eq!(sim["rules"][0]["advisories"], serde_json::json!(["GHSA-aaaa-bbbb-cccc"]), "{sim}");

    let status = json(advisories_admin(&s, "mirror", false).await).await;
    assert_eq!(status["advisories"][0]["records"], 3, "three npm records: {status}");
    assert_eq!(status["advisories"][0]["packages"], 2, "{status}");
    assert_eq!(status["advisories"][0]["unreadable"], 1, "the broken file: {status}");
    assert!(status["advisories"][0]["read_at"].is_string(), "{status}");
    assert_eq!(
        client()
            .get(format!("{}/api/v1/admin/registries/mirror/advisories", s.url))
            .send()
            .await
            .expect("anon")
            .status(),
        401
    );

    // A new record: in force after a refresh, and the rendering is not stale.
    write_record(osv.path(), &osv_record("MAL-2026-0002", "npm", "vuln-lib", &["1.0.0", "1.1.0"], None));
    let r = advisories_admin(&s, "mirror", true).await;
    assert_eq!(r.status(), 200);
    let refreshed = json(r).await;
    assert_eq!(refreshed["advisories"][0]["records"], 4, "{refreshed}");
    let r = c.get(format!("{base}/vuln-lib")).send().await.expect("packument");
    assert_eq!(r.status(), 403, "every version now blocked");
    let body = json(r).await;
    assert!(
        body["error"].as_str().is_some_and(|m| m.contains("vuln-lib@1.2.0")),
        "the newest version's reason: {body}"
    );
    // A record removed is lifted on the next refresh.
    std::fs::remove_file(osv.path().join("MAL-2026-0002.json")).expect("remove");
    assert_eq!(advisories_admin(&s, "mirror", true).await.status(), 200);
    let doc = json(c.get(format!("{base}/vuln-lib")).send().await.expect("packument")).await;
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0"], "{doc}");
    // A source gone: 502, and the last data read stays in force.
    let gone = osv.path().with_extension("gone");
    std::fs::rename(osv.path(), &gone).expect("move the folder away");
    let r = advisories_admin(&s, "mirror", true).await;
    assert_eq!(r.status(), 502);
    assert_eq!(c.get(format!("{base}/evil-pkg")).send().await.expect("packument").status(), 403);
    std::fs::rename(&gone, osv.path()).expect("move the folder back");
}

/// PyPI with advisories from an OSV export zip fetched over HTTP (a fake
/// on 127.0.0.1), cargo with a zip file: the same blocking through each
/// type's names (PEP 503 normalised) and listings.
#[tokio::test]
async fn advisories_from_an_osv_zip_by_url_and_by_file_block_pypi_and_cargo_versions() {
    use crate::support::cargo::{CargoFixture, FakeIndex};
    use crate::support::fixture::Fixture;
    use crate::support::pypi::{FakeSimple, wheel, wheel_name};
    // OSV's name for cargo's ecosystem is its public registry's host.
    let cargo_ecosystem = concat!("crates", ".io");
    let records = [
        osv_record("PYSEC-2026-7", "PyPI", "Bad_Project", &["2.0"], Some("CRITICAL")),
        osv_record("MAL-2026-0100", "PyPI", "typo-squat", &[], None),
    ];
    let zip = zip_of(&records);
    let served = std::sync::Arc::new(std::sync::Mutex::new(zip));
    let state = served.clone();
    let app = axum::Router::new().route(
        "/pypi/all.zip",
        axum::routing::get(move || {
            let state = state.clone();
            async move { state.lock().expect("lock").clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let osv_url = format!("http://{}/pypi/all.zip", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let py = FakeSimple::start(true).await;
    for v in ["1.0", "2.0"] {
        py.add("bad-project", &wheel_name("bad_project", v), wheel("bad_project", v));
    }
    py.add("typo-squat", &wheel_name("typo_squat", "1.0"), wheel("typo_squat", "1.0"));
    let crates = FakeIndex::start(true).await;
    for v in ["0.1.0", "0.2.0"] {
        crates.add("osv-crate", v);
    }
    let zip_dir = tempfile::tempdir().expect("zip dir");
    let zip_file = zip_dir.path().join("cargo-all.zip");
    let cargo_record = serde_json::json!({
        "id": "RUSTSEC-2026-0001",
        "affected": [{"package": {"ecosystem": cargo_ecosystem, "name": "osv-crate", "purl": "pkg:cargo/osv-crate"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.2.0"}]}]}],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    });
    std::fs::write(&zip_file, zip_of(&[cargo_record])).expect("zip");
    let s = TestServer::start(&config(&format!(
        "{}[[registries.rules]]\ntype = \"advisories\"\nsource = \"{osv_url}\"\nrefresh = \"1h\"\n{}[[registries.rules]]\ntype = \"advisories\"\nsource = \"{}\"\nmin_severity = \"critical\"\n",
        Reg::proxy("pypi", "mirror", &py.simple()).open_read().toml(),
        Reg::proxy("cargo", "crates", &crates.index()).open_read().toml(),
        zip_file.display()
    )))
    .await;
    let c = client();
    let page = c
        .get(format!("{}/simple/bad-project/", s.reg("mirror")))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .expect("page");
    let page = json(page).await;
    let files: Vec<&str> =
        page["files"].as_array().expect("files").iter().filter_map(|f| f["filename"].as_str()).collect();
    assert_eq!(files, [wheel_name("bad_project", "1.0")], "{page}");
    let r = c
        .get(format!("{}/packages/bad-project/{}", s.reg("mirror"), wheel_name("bad_project", "2.0")))
        .send()
        .await
        .expect("file");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("PYSEC-2026-7"));
    let r = c.get(format!("{}/simple/typo-squat/", s.reg("mirror"))).send().await.expect("page");
    assert_eq!(r.status(), 403, "a malicious project");

    // The export grows upstream: a refresh fetches it again.
    *served.lock().expect("lock") = zip_of(&[
        records[0].clone(),
        records[1].clone(),
        osv_record("MAL-2026-0101", "PyPI", "bad-project", &["1.0"], None),
    ]);
    let refreshed = json(advisories_admin(&s, "mirror", true).await).await;
    assert_eq!(refreshed["advisories"][0]["records"], 3, "{refreshed}");
    assert_eq!(c.get(format!("{}/simple/bad-project/", s.reg("mirror"))).send().await.expect("page").status(), 403);

    // Cargo: CVSS 9.8 is critical; 0.2.0 and later are named.
    let body = c
        .get(format!("{}{}", s.reg("crates"), CargoFixture::listing("osv-crate")))
        .send()
        .await
        .expect("index")
        .text()
        .await
        .expect("body");
    let kept: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("line")).collect();
    assert_eq!(kept.len(), 1, "{body}");
    assert_eq!(kept[0]["vers"], "0.1.0");
    let r = c
        .get(format!("{}{}", s.reg("crates"), CargoFixture::artifact("osv-crate", "0.2.0")))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("RUSTSEC-2026-0001"));
}

/// npm licences: versions whose `license` the rule does not accept are
/// withheld (an SPDX expression with an acceptable choice passes), with
/// the licence named; the configuration refuses licence rules where
/// listings declare none.
#[tokio::test]
async fn licence_rules_withhold_npm_versions_by_their_declared_licence() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for (v, licence) in [("1.0.0", "MIT"), ("1.1.0", "MIT OR GPL-3.0-only"), ("2.0.0", "GPL-3.0-only")] {
        up.add("licensed", v, tarball("licensed", v, &[]));
        up.set_licence("licensed", v, licence);
    }
    up.add("licensed", "2.1.0", tarball("licensed", "2.1.0", &[]));
    let s = server(
        &up.url,
        "[[registries.rules]]\ntype = \"licence\"\ndeny = [\"GPL-3.0-only\", \"AGPL-3.0-only\"]\nmissing_licence = \"deny\"\n",
    )
    .await;
    let c = client();
    let base = s.reg("mirror");
    let doc = json(c.get(format!("{base}/licensed")).send().await.expect("packument")).await;
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0"], "{doc}");
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0", "{doc}");
    let r = c.get(format!("{base}/licensed/-/licensed-2.0.0.tgz")).send().await.expect("tgz");
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert!(body["error"].as_str().is_some_and(|m| m.contains("GPL-3.0-only") && m.contains("licence")), "{body}");
    let r = c.get(format!("{base}/licensed/-/licensed-2.1.0.tgz")).send().await.expect("tgz");
    assert_eq!(r.status(), 403, "no licence declared, missing_licence = deny");
    let sim = format!("{}/api/v1/registries/mirror/packages/licensed/versions/2.0.0/rules", s.url);
    let sim = json(c.get(sim).send().await.expect("simulate")).await;
    assert_eq!(
        (sim["licence"].clone(), sim["rules"][0]["type"].clone()),
        ("GPL-3.0-only".into(), "licence".into()),
        "{sim}"
    );

    let parse =
        |registry: &str| batlehub::ecosystems::parse_config(&config(registry)).map(|_| ()).map_err(|e| e.to_string());
    let err = parse(&format!(
        "{}[[registries.rules]]\ntype = \"licence\"\ndeny = [\"GPL-3.0-only\"]\n",
        Reg::proxy("pypi", "py", "http://127.0.0.1:1/simple/").toml()
    ))
    .expect_err("no licences in PyPI listings");
    assert!(err.contains("declares no licences"), "{err}");
}

/// A local advisory source that cannot be read stops the start (the rule
/// would otherwise hold back everything it judges), naming it.
#[tokio::test]
async fn an_unreadable_advisory_folder_stops_the_start() {
    let text = config(&format!(
        "{}[[registries.rules]]\ntype = \"advisories\"\nsource = \"/nonexistent/osv-records\"\n",
        Reg::proxy("npm", "mirror", "http://127.0.0.1:1/").toml()
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let text = crate::support::config_text(dir.path(), &text).await;
    let config = batlehub::ecosystems::parse_config(&text).expect("valid configuration");
    let err = match batlehub::app::AppState::build(config).await {
        Ok(_) => panic!("started without its advisories"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("/nonexistent/osv-records") && err.contains("mirror"), "{err}");
}

/// The package browser shows an upstream package's versions as the rules
/// judge them for the viewer: blocked ones marked with each rule's reason
/// (the simulator's answers), through its page and the lookup form; a name
/// the registry claims is never looked up upstream.
#[tokio::test]
async fn the_package_page_marks_blocked_upstream_versions_with_the_reason() {
    let up = crate::support::fake_npm::FakeNpm::start().await;
    for (v, hours) in [("1.0.0", 24 * 400), ("2.0.0", 1)] {
        up.add("shown", v, tarball("shown", v, &[]));
        up.set_published("shown", v, Some(&hours_ago(hours)));
    }
    up.add("@acme/secret", "1.0.0", tarball("secret", "1.0.0", &[]));
    let reg = Reg::proxy("npm", "mirror", &up.url)
        .open_read()
        .namespace("@acme/", "oidc:acme")
        .rule("type = \"release_age\"\nmin_age = \"72h\"\nbypass = [\"admin\"]");
    let s = TestServer::with(&[reg], "").await;
    let c = client();
    let page = c.get(format!("{}/packages/mirror/shown", s.url)).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"data-version="2.0.0" data-allowed="false""#), "{html}");
    assert!(html.contains(r#"data-version="1.0.0" data-allowed="true""#), "{html}");
    assert!(html.contains(r#"data-rule="release_age""#), "{html}");
    assert!(html.contains("release_age rule until"), "the reason: {html}");
    assert!(html.contains(r#"data-blocked="1""#), "{html}");
    // The lookup form on /packages leads to the same answers.
    let form = c.get(format!("{}/packages", s.url)).send().await.expect("packages").text().await.expect("html");
    assert!(form.contains(r#"name="upstream""#) && form.contains(r#"<option value="mirror">"#), "{form}");
    let looked = c.get(format!("{}/packages?registry=mirror&upstream=shown", s.url)).send().await.expect("lookup");
    let looked = looked.text().await.expect("html");
    assert!(looked.contains(r#"data-version="2.0.0" data-allowed="false""#), "{looked}");
    // The bypass (admins) sees nothing blocked.
    let admin = c.get(format!("{}/packages/mirror/shown", s.url)).bearer_auth(ADMIN).send().await.expect("page");
    let admin = admin.text().await.expect("html");
    assert!(admin.contains(r#"data-version="2.0.0" data-allowed="true""#), "{admin}");
    // A claimed name is the registry's own: never asked of the upstream.
    let asked = up.total_hits();
    let r = c.get(format!("{}/packages/mirror/@acme/secret", s.url)).send().await.expect("claimed");
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{}/api/v1/registries/mirror/packages/@acme%2Fsecret/versions/1.0.0/rules", s.url))
        .send()
        .await
        .expect("sim");
    assert_eq!(r.status(), 404, "the simulator does not ask either");
    assert_eq!(up.total_hits(), asked, "nothing asked of the upstream for a claimed name");
}

/// Rules never judge a registry's own published packages unless marked
/// `local = true`: on a local registry only such rules are accepted, and
/// they withhold the versions they deny from its packuments and
/// downloads; an unmarked rule of a hybrid registry leaves its local
/// packages alone.
#[tokio::test]
async fn only_rules_marked_local_judge_published_packages() {
    use crate::support::ALICE;
    use crate::support::npm::publish;
    let up = crate::support::fake_npm::FakeNpm::start().await;
    let local = Reg::local("npm", "internal")
        .open_read()
        .rule("type = \"version\"\ndeny = [\"house-lib@2.0.0\"]\nlocal = true")
        .rule("type = \"licence\"\ndeny = [\"GPL-3.0-only\"]\nlocal = true");
    let hybrid =
        Reg::hybrid("npm", "mixed", &up.url).open_read().rule("type = \"version\"\ndeny = [\"mixed-lib@2.0.0\"]");
    let s = TestServer::with(&[local, hybrid], "").await;
    let c = client();
    for (reg, name) in [("internal", "house-lib"), ("mixed", "mixed-lib")] {
        for v in ["1.0.0", "2.0.0"] {
            let (status, body) = publish(&c, &s.reg(reg), ALICE, name, v).await;
            assert!(status == 200 || status == 201, "{reg} {name}@{v}: {status} {body}");
        }
    }
    // A published manifest's licence is read too.
    let tgz = tarball("house-lib", "3.0.0", &[]);
    let mut body = crate::support::npm::publish_body("house-lib", "3.0.0", &tgz, &s.reg("internal"));
    body["versions"]["3.0.0"]["license"] = serde_json::json!("GPL-3.0-only");
    let r = c.put(format!("{}/house-lib", s.reg("internal"))).bearer_auth(ALICE).json(&body).send().await.expect("put");
    assert!(r.status().is_success(), "{}", r.status());
    let doc = json(c.get(format!("{}/house-lib", s.reg("internal"))).send().await.expect("packument")).await;
    assert_eq!(versions(&doc), ["1.0.0"], "the local rules withhold 2.0.0 and the GPL 3.0.0: {doc}");
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0", "{doc}");
    let r = c.get(format!("{}/house-lib/-/house-lib-2.0.0.tgz", s.reg("internal"))).send().await.expect("tgz");
    assert_eq!(r.status(), 403, "a withheld local version's file is refused");
    let body = json(r).await;
    assert!(
        body["error"].as_str().is_some_and(|m| m.contains("house-lib@2.0.0") && m.contains("version rule")),
        "{body}"
    );
    let r = c.get(format!("{}/house-lib/-/house-lib-3.0.0.tgz", s.reg("internal"))).send().await.expect("tgz");
    assert_eq!(r.status(), 403, "the GPL version too");
    let r = c.get(format!("{}/house-lib/-/house-lib-1.0.0.tgz", s.reg("internal"))).send().await.expect("tgz");
    assert_eq!(r.status(), 200);
    let doc = json(c.get(format!("{}/mixed-lib", s.reg("mixed"))).send().await.expect("packument")).await;
    assert_eq!(versions(&doc), ["1.0.0", "2.0.0"], "an unmarked rule leaves local packages alone: {doc}");

    let parse =
        |registry: &str| batlehub::ecosystems::parse_config(&config(registry)).map(|_| ()).map_err(|e| e.to_string());
    let err = parse(&format!(
        "{}[[registries.rules]]\ntype = \"version\"\ndeny = [\"a\"]\nlocal = \"yes\"\n",
        Reg::hybrid("npm", "h", "http://127.0.0.1:1/").toml()
    ))
    .expect_err("local is a bool");
    assert!(err.contains("`local` is true or false"), "{err}");
}
