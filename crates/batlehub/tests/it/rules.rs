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
        (format!("{}{age}", Reg::local("npm", "internal").toml()), "a local registry has none"),
        (
            format!("{}{age}", Reg::proxy("goproxy", "gomods", "http://127.0.0.1:1/").toml()),
            "not applied on registries of type `goproxy` yet",
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
