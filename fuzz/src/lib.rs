//! The fuzz targets' bodies, one function per target.
//!
//! Each `fuzz_targets/<target>.rs` calls the function of the same name, and
//! `crates/batlehub/tests/it/fuzz_corpus.rs` includes this very file to replay
//! every file of `fuzz/corpus/<target>/` through it under `cargo test`. The
//! invariant is the same everywhere: untrusted bytes may be rejected, but
//! never make a parser panic.
//!
//! This file is compiled both as the fuzz crate's library and as a module of
//! the integration tests, so it has no crate-level attributes and uses only
//! `batlehub` and its dependencies.

use std::io::{self, Write};

use axum::http::Method;
use batlehub::config::Config;
use batlehub::ecosystems::npm::names::NpmName;
use batlehub::ecosystems::npm::render::{UpstreamPackument, abbreviate, resolve_spec};
use batlehub::ecosystems::{self, npm::publish};
use batlehub::kinds::Kind;
use batlehub::upstream::artifacts::ExpectedDigest;

/// The npm publish body (streaming JSON, base64 attachments): parsed into
/// memory, then again into sinks that fail after a few bytes, as a full disk
/// or a blob-size limit would.
pub fn npm_publish(data: &[u8]) {
    let _ = publish::parse_in_memory(data);
    for limit in [0, 1, 7, data.len() / 2] {
        let _ = publish::parse_publish(data, 2, publish::MAX_DOCUMENT_BYTES, &mut |_name| {
            Ok(LimitedSink { left: limit, bytes: Vec::new() })
        });
    }
}

/// A sink that accepts `left` bytes and then fails.
struct LimitedSink {
    left: usize,
    bytes: Vec<u8>,
}

impl Write for LimitedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            return Err(io::Error::other("sink is full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const METHODS: [Method; 6] = [Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::DELETE, Method::PATCH];

/// URL → operation, for every ecosystem through its own parser. The input is
/// the registry type on the first line (`npm`, `cargo`, `pypi`...; an
/// unknown one picks a type by the line's first byte), then a byte picking
/// the method (modulo 6, so seeds use `0` GET, `1` HEAD, `2` PUT, `3` POST,
/// `4` DELETE or `5` PATCH), then the path after `/proxy/{registry}` (UTF-8
/// only, as axum hands it over), with an optional `?query`.
pub fn op(data: &[u8]) {
    let (first, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let kind = std::str::from_utf8(first)
        .ok()
        .and_then(Kind::parse)
        .unwrap_or_else(|| Kind::ALL[usize::from(first.first().copied().unwrap_or(0)) % Kind::ALL.len()]);
    let Some((&m, rest)) = rest.split_first() else { return };
    let Ok(rest) = std::str::from_utf8(rest) else { return };
    let method = &METHODS[usize::from(m) % METHODS.len()];
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let headers = axum::http::HeaderMap::new();
    if let Ok(op) = ecosystems::parse_op(kind, method, path, query, &headers) {
        let _ = (op.access.is_write(), op.access.permission(), op.audit_name, op.package);
    }
    let _ = ecosystems::normalize_name(kind, path.trim_start_matches('/'));
}

/// An npm package name, and everything derived from a valid one.
pub fn npm_name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(name) = NpmName::parse(s) {
        let _ = (name.check_new(), name.full(), name.escaped(), name.tarball_filename("1.0.0"), name.to_string());
    }
}

/// The TOML configuration, with `${SET}` set and every other variable unset.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |name: &str| (name == "SET").then(|| "x".to_string());
    match Config::parse_with_env(text, &env, &ecosystems::Rules) {
        Ok(cfg) => {
            for r in &cfg.registries {
                let _ = r.grants();
            }
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
}

/// An upstream packument (bytes from a server we do not control), and the
/// documents served from it: rewritten, abbreviated, resolved.
pub fn upstream_packument(data: &[u8]) {
    let Ok(parsed) = UpstreamPackument::parse(data) else { return };
    let name = match NpmName::parse("pkg") {
        Ok(n) => n,
        Err(e) => panic!("`pkg` is a valid name: {e}"),
    };
    let doc = parsed.rewritten(&name, "http://h/proxy/npm");
    let _ = abbreviate(&doc);
    let _ = resolve_spec(&doc, "latest");
    let _ = resolve_spec(&doc, "1.0.0");
}

/// The digests an upstream advertises: an SRI string (`sha512-<base64> ...`)
/// or a bare hex `shasum`.
pub fn sri(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = ExpectedDigest::from_sri(s);
    let _ = ExpectedDigest::from_hex(s);
}

/// The body of `cargo publish` (framed lengths, metadata JSON, .crate) and
/// the .crate check (gzip, tar, Cargo.toml), on the frame's .crate bytes and
/// on the raw input.
pub fn cargo_publish(data: &[u8]) {
    use batlehub::ecosystems::cargo::publish as cp;
    if let Ok((meta, crate_bytes)) = cp::parse_in_memory(data) {
        let _ = cp::index_entry(&meta, "00");
        let _ = cp::check_crate(&crate_bytes[..], &meta.name, &meta.vers);
    }
    let _ = cp::check_crate(data, "x", "1.0.0");
    let mut sink = LimitedSink { left: 3, bytes: Vec::new() };
    let _ = cp::read_frame(&mut &data[..], 1 << 20, &mut sink);
}

/// Core metadata out of wheels and sdists, the metadata parser, and PyPI
/// distribution file names.
pub fn pypi_dist(data: &[u8]) {
    use batlehub::ecosystems::pypi::{dist, names};
    let _ = dist::extract_any(data);
    let _ = dist::parse_metadata(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = names::parse_filename(s);
        let _ = names::normalize_version(s);
        let _ = names::normalize(s);
    }
}

/// An upstream Simple API page, as HTML and as JSON, rendered back.
pub fn pypi_simple(data: &[u8]) {
    use batlehub::ecosystems::pypi::simple::ProjectPage;
    for ct in ["text/html", "application/vnd.pypi.simple.v1+json"] {
        if let Ok(page) = ProjectPage::parse(data, Some(ct), "https://pypi-upstream.example/simple/demo/", "demo") {
            let _ = (page.render_html(), page.render_json());
        }
    }
}

/// A module zip through the go zip rules (`{module}@{version}/` prefix,
/// paths, collisions, sizes, declared sizes, go.mod): the input is the zip.
pub fn go_modzip(data: &[u8]) {
    use batlehub::ecosystems::go::{modzip, names};
    let (Ok(module), Ok(version)) = (names::ModulePath::parse("example.com/m"), names::Version::parse("v1.0.0")) else {
        return;
    };
    let _ = modzip::check(&module, &version, std::io::Cursor::new(data), data.len() as u64);
}

/// Module paths, versions, their case encoding and go.mod files: the input
/// is tried as each.
pub fn go_names(data: &[u8]) {
    use batlehub::ecosystems::go::{gomod, names};
    let Ok(text) = std::str::from_utf8(data) else { return };
    for line in text.lines().take(64) {
        if let Ok(m) = names::ModulePath::parse(line) {
            assert_eq!(names::ModulePath::from_escaped(&m.escaped()).ok(), Some(m.clone()), "escaping round-trips");
        }
        let _ = names::ModulePath::from_escaped(line);
        if let Ok(v) = names::Version::parse(line) {
            let _ = (v.is_pseudo(), v.is_prerelease());
            assert_eq!(names::Version::from_escaped(&v.escaped()).ok(), Some(v), "escaping round-trips");
        }
        let _ = names::check_file_path(line);
    }
    if let Ok(parsed) = gomod::parse(text) {
        for r in parsed.retract {
            if let Ok(v) = names::Version::parse("v1.0.0") {
                let _ = r.covers(&v);
            }
        }
    }
}

/// A deployed POM or maven-metadata.xml through the XML reader (DOCTYPE
/// refused, no entity expanded), and the input's first line as a
/// repository file name.
pub fn maven_pom(data: &[u8]) {
    use batlehub::ecosystems::maven::{names, pom};
    let _ = pom::parse_pom(data);
    let _ = pom::check_metadata(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(line) = text.lines().next()
    {
        let _ = names::parse_file("app", "1.0-SNAPSHOT", line);
        let _ = names::parse_file("app", "1.0", line);
        let _ = names::Coordinates::parse(line);
        let _ = names::compare_versions(line, "1.0");
    }
}

/// An uploaded Composer package archive: its composer.json found and read
/// (hostile entry names, sizes, JSON), and the input's first line as a
/// version and a package name.
pub fn composer_archive(data: &[u8]) {
    use batlehub::ecosystems::composer::{archive, names, p2};
    if let Ok(manifest) = archive::composer_json(std::io::Cursor::new(data)) {
        let _ = manifest.get("name").and_then(|n| n.as_str()).map(names::PackageName::parse);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let line = text.lines().next().unwrap_or("");
        let _ = names::normalize(line);
        let _ = names::PackageName::parse(line);
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) {
            if let Ok(versions) = p2::expand(&doc, "a/b") {
                let _ = p2::minify("a/b", &versions);
            }
        }
    }
}

/// A pushed `.gem` (tar, gzipped gemspec) and, as text, the gemspec YAML
/// reader alone (aliases, tags, nesting).
pub fn gem_spec(data: &[u8]) {
    use batlehub::ecosystems::rubygems::gem;
    let _ = gem::read_gem(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(node) = gem::parse_yaml(text)
    {
        let _ = gem::spec_of(&node);
    }
}

/// Upstream Marshal data (`specs.4.8.gz` inflated, the dependency API): the
/// reader whole and element by element.
pub fn gem_marshal(data: &[u8]) {
    use batlehub::ecosystems::rubygems::marshal;
    if let Ok(v) = marshal::load(data) {
        // What is read can be written again.
        let _ = marshal::load(&marshal::dump(&v));
    }
    let _ = marshal::load_array_each(data, |v| {
        let _ = marshal::version_of(&v);
        Ok(())
    });
}

/// A pushed `.nupkg`: its `.nuspec` found and read (hostile entry names,
/// sizes, XML with entities and doctypes), the `.nuspec` parser alone on the
/// input, and the input's first line as a NuGet id and version.
pub fn nuget_nupkg(data: &[u8]) {
    use batlehub::ecosystems::nuget::{names, nupkg};
    if let Ok((spec, _)) = nupkg::read_nupkg(std::io::Cursor::new(data)) {
        let _ = names::PackageId::parse(&spec.id).map(|id| id.lower());
        let _ = names::Version::parse(&spec.version).map(|v| (v.normalized(), v.key(), v.is_prerelease()));
    }
    let _ = nupkg::parse_nuspec(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let line = text.lines().next().unwrap_or("");
        let _ = names::PackageId::parse(line);
        if let Ok(v) = names::Version::parse(line) {
            let _ = (v.normalized(), v.key());
        }
        let _ = names::compare(line, "1.0.0-beta.2");
    }
}

/// Upstream NuGet documents: a service index read for its resources, and
/// registration documents and search answers rewritten to point here.
pub fn nuget_documents(data: &[u8]) {
    use batlehub::ecosystems::nuget::{names::Version, render::Urls, upstream};
    let _ = upstream::parse_service_index(data, "https://user:pw@up.example/v3/index.json");
    let u = Urls::new("https://hub.example/proxy/n".into());
    let _ = upstream::rewrite_search(data, &u, &|id| id.starts_with("team."));
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = upstream::rewrite_registration(&v, &u, "a.b");
        if let (Ok(lo), Ok(hi)) = (Version::parse("1.0.0"), Version::parse("2.0.0")) {
            let _ = upstream::rewrite_page_doc(&v, &u, "a.b", &lo, &hi);
        }
    }
}

/// An uploaded conda package: `info/index.json` found and checked in a
/// `.conda` (ZIP of zstd tarballs) or a `.tar.bz2`, whichever the input's
/// first bytes say (and both, whatever they say), then the input alone as
/// an `index.json` and as a package file name.
pub fn conda_package(data: &[u8]) {
    use batlehub::ecosystems::conda::{names, package};
    let _ = package::sniff(data);
    for format in [names::Format::Conda, names::Format::TarBz2] {
        if let Ok(index) = package::read_index(std::io::Cursor::new(data), format) {
            assert!(names::check_name(&index.name).is_ok(), "an index.json with a bad name was accepted");
            assert!(names::check_build(&index.build).is_ok(), "an index.json with a bad build was accepted");
        }
    }
    let _ = package::parse_index(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let line = text.lines().next().unwrap_or("");
        if let Ok(f) = names::FileName::parse(line) {
            assert_eq!(names::FileName::parse(&f.file()).ok(), Some(f), "file names round-trip");
        }
    }
}

/// Upstream channel documents: `repodata.json` and `channeldata.json`
/// parsed, then rendered again with some names shadowed.
pub fn conda_documents(data: &[u8]) {
    use batlehub::ecosystems::conda::repodata;
    if let Ok(r) = repodata::parse_repodata(data) {
        for rec in &r.records {
            let _ = rec.sha256();
        }
        let out = repodata::render("noarch", &[], Some(&r), &|n| n.starts_with("team-"), &|i| i % 2 == 0);
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok(), "rendered repodata is JSON");
    }
    if let Ok(c) = repodata::parse_channeldata(data) {
        let _ = c.subdirs_of("numpy");
        let out = repodata::render_channeldata(&[], Some(&c), &|n| n.starts_with("team-"));
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok(), "rendered channeldata is JSON");
    }
}

/// An uploaded VSIX: its manifests read and checked (an accepted one names
/// a valid id, semver version and known platform), then each asset it
/// names copied out within its limit.
pub fn vsx_vsix(data: &[u8]) {
    use batlehub::ecosystems::vsx::{names, vsix};
    if let Ok(v) = vsix::read(std::io::Cursor::new(data)) {
        assert!(names::ExtId::parse(&v.id.display()).is_ok(), "an accepted VSIX has a valid id");
        assert!(names::check_version(&v.version).is_ok(), "an accepted VSIX has a semver version");
        assert!(names::check_platform(&v.platform).is_ok(), "an accepted VSIX has a known platform");
        for (asset, entry) in &v.assets {
            let mut out = Vec::new();
            if let Ok(n) = vsix::copy_entry(std::io::Cursor::new(data), entry, asset.limit(), &mut out) {
                assert!(n <= asset.limit() && out.len() as u64 == n, "an asset is copied within its limit");
            }
        }
    }
}

/// What an extension registry parses of requests and upstreams: the
/// gallery query a client posts and an upstream's OpenVSX document, read
/// as the model and rendered again in both shapes.
pub fn vsx_documents(data: &[u8]) {
    use batlehub::ecosystems::vsx::{model, names};
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(id) = names::ExtId::parse("acme.tools") else { return };
    if let Ok(r) = batlehub::ecosystems::vsx::upstream::OpenVsx::release_of(&id, &v) {
        let urls = model::Urls { base: "http://batlehub.example/proxy/x" };
        let doc = model::openvsx_extension(&urls, &r, std::slice::from_ref(&r));
        assert_eq!(doc["version"], serde_json::Value::from(r.version.clone()), "the rendering keeps the version");
        let _ = model::gallery_extension(&urls, std::slice::from_ref(&r), 0x1 | 0x2 | 0x4 | 0x10 | 0x80 | 0x100);
        let _ = model::pick(std::slice::from_ref(&r), Some(&r.version), Some(&r.platform));
    }
    if let Some(ext) = v.pointer("/results/0/extensions/0") {
        for ver in ext.get("versions").and_then(|x| x.as_array()).into_iter().flatten() {
            let _ = batlehub::ecosystems::vsx::upstream::Gallery::release_of(&id, ext, ver);
        }
    }
}

/// What a Terraform registry reads of uploads: a provider's zip (its
/// executable found and its `h1:` computed) and a module's `.tar.gz`.
pub fn terraform_archive(data: &[u8]) {
    use batlehub::ecosystems::terraform::archive;
    if let Ok(p) = archive::provider_zip(std::io::Cursor::new(data), "demo") {
        assert!(p.h1.starts_with("h1:"), "an accepted provider has an h1 hash");
        assert!(p.executable.starts_with("terraform-provider-demo"), "an accepted provider holds its executable");
    }
    let _ = archive::module_tgz(std::io::Cursor::new(data));
}

/// What a Terraform registry reads of an upstream: service discovery,
/// provider versions and downloads, module versions and locations, and
/// `SHA256SUMS`.
pub fn terraform_documents(data: &[u8]) {
    use batlehub::ecosystems::terraform::{names, read, upstream};
    if let Ok(s) = upstream::parse_services(data, "https://up.example/base") {
        for u in [s.modules, s.providers].into_iter().flatten() {
            assert!(u.ends_with('/'), "a service URL ends with a slash");
        }
    }
    let _ = read::parse_shasums(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = upstream::resolve_location(text, "https://up.example/v1/modules/a/b/c/1.0.0/download");
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(list) = upstream::parse_provider_versions(&v) {
        for p in list {
            assert!(names::check_version(&p.version).is_ok(), "a listed version is semver");
        }
    }
    if let Ok(d) = upstream::parse_download(&v, "https://up.example/v1/providers/a/b/1.0.0/download/linux/amd64") {
        assert!(d.download_url.starts_with("http"), "a download URL is http(s)");
        assert!(d.shasum.as_ref().is_none_or(|h| h.len() == 64), "a shasum is SHA-256 hex");
    }
    let _ = upstream::parse_module_versions(&v);
}

/// An OSV advisory record (what an `advisories` rule reads from a folder,
/// a zip or a URL) indexed and matched against versions, and the same
/// bytes as a declared licence judged by a `licence` rule.
pub fn osv_record(data: &[u8]) {
    use batlehub::rules::advisories::IndexBuilder;
    use batlehub::rules::{OsvName, OsvTarget};
    let target = OsvTarget {
        name: OsvName { ecosystem: "npm", purl_type: "npm" },
        normalize: |n| (!n.is_empty()).then(|| n.to_lowercase()),
        order: batlehub::config::natural_version_order,
    };
    let mut builder = IndexBuilder::new(target);
    let _ = builder.add(data);
    let index = builder.finish(0);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    let names: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("affected"))
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|x| x["package"]["name"].as_str().map(str::to_lowercase)).collect())
        .unwrap_or_default();
    for name in &names {
        for version in ["0", "0.0.1", "1.0.0", "1.2.3-beta.1", "99999999999999999999.0", ""] {
            let _ = index.affecting(name, version, target.order).count();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let rule = batlehub::rules::LicenceRule {
            allow: vec![],
            deny: ["GPL-3.0-only", "AGPL-3.0-only"]
                .iter()
                .filter_map(|l| batlehub::rules::licence::parse_entry(l).ok())
                .collect(),
            allow_missing: true,
            answers: Default::default(),
        };
        let _ = batlehub::rules::licence::refusal(&rule, Some(text));
        let _ = batlehub::rules::licence::parse_entry(text);
    }
}
