//! The NuGet documents BatleHub writes: the service index, the flat
//! container's version list, registration indexes, pages and leaves, and
//! search results, for local packages (rendered from rows) and, through the
//! same URLs, for upstream ones.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::names::{Version, compare};
use super::nupkg::Nuspec;
use crate::catalog::{FileRow, VersionRow};

/// Versions per registration page; a package with no more is inlined in
/// its registration index as one page, a larger one is paged and each page
/// is fetched on its own (as nuget.org does past 128).
pub const PAGE: usize = 64;

/// What an unlisted version's `published` says (NuGet's convention).
pub const UNLISTED_PUBLISHED: &str = "1900-01-01T00:00:00+00:00";

/// Every URL of one registry's feed.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `{base}/proxy/{registry}`.
    pub registry: String,
}

impl Urls {
    pub fn new(registry_base: String) -> Urls {
        Urls { registry: registry_base }
    }
    pub fn service_index(&self) -> String {
        format!("{}/nuget/v3/index.json", self.registry)
    }
    pub fn flat(&self) -> String {
        format!("{}/nuget/v3/flat/", self.registry)
    }
    pub fn registrations(&self) -> String {
        format!("{}/nuget/v3/registration/", self.registry)
    }
    pub fn reg_index(&self, lid: &str) -> String {
        format!("{}{lid}/index.json", self.registrations())
    }
    pub fn reg_leaf(&self, lid: &str, vkey: &str) -> String {
        format!("{}{lid}/{vkey}.json", self.registrations())
    }
    pub fn reg_page(&self, lid: &str, lower: &str, upper: &str) -> String {
        format!("{}{lid}/page/{lower}/{upper}.json", self.registrations())
    }
    pub fn nupkg(&self, lid: &str, vkey: &str) -> String {
        format!("{}{lid}/{vkey}/{lid}.{vkey}.nupkg", self.flat())
    }
    pub fn search(&self) -> String {
        format!("{}/nuget/v3/query", self.registry)
    }
    pub fn autocomplete(&self) -> String {
        format!("{}/nuget/v3/autocomplete", self.registry)
    }
    pub fn publish(&self) -> String {
        format!("{}/nuget/v2/package", self.registry)
    }
    pub fn symbols(&self) -> String {
        format!("{}/nuget/v2/symbolpackage", self.registry)
    }
}

/// The service index: every resource type clients look for (older clients
/// fail with "Value cannot be null. baseUrl" when a registration type they
/// know is missing).
pub fn service_index(u: &Urls) -> Value {
    let mut resources = Vec::new();
    let mut add = |id: String, types: &[&str], comment: &str| {
        for t in types {
            resources.push(json!({ "@id": id, "@type": t, "comment": comment }));
        }
    };
    add(u.flat(), &["PackageBaseAddress/3.0.0"], "Base URL of the flat container: versions, .nupkg and .nuspec files");
    add(
        u.registrations(),
        &[
            "RegistrationsBaseUrl",
            "RegistrationsBaseUrl/3.0.0-rc",
            "RegistrationsBaseUrl/3.0.0-beta",
            "RegistrationsBaseUrl/3.4.0",
            "RegistrationsBaseUrl/3.6.0",
            "RegistrationsBaseUrl/Versioned",
        ],
        "Base URL of the package registrations (SemVer 2.0.0 included)",
    );
    add(
        u.search(),
        &["SearchQueryService", "SearchQueryService/3.0.0-rc", "SearchQueryService/3.0.0-beta", "SearchQueryService/3.5.0"],
        "Search",
    );
    add(
        u.autocomplete(),
        &[
            "SearchAutocompleteService",
            "SearchAutocompleteService/3.0.0-rc",
            "SearchAutocompleteService/3.0.0-beta",
            "SearchAutocompleteService/3.5.0",
        ],
        "Autocomplete of ids and versions",
    );
    add(u.publish(), &["PackagePublish/2.0.0"], "Push (PUT) and unlist (DELETE {id}/{version})");
    add(u.symbols(), &["SymbolPackagePublish/4.9.0"], "Push of .snupkg symbol packages");
    json!({ "version": "3.0.0", "resources": resources, "@context": { "@vocab": "http://schema.nuget.org/services#", "comment": "http://www.w3.org/2000/01/rdf-schema#comment" } })
}

/// The file names of a local version.
pub fn nupkg_file(lid: &str, vkey: &str) -> String {
    format!("{lid}.{vkey}.nupkg")
}
pub fn nuspec_file(lid: &str, vkey: &str) -> String {
    format!("{lid}.{vkey}.nuspec")
}
pub fn snupkg_file(lid: &str, vkey: &str) -> String {
    format!("{lid}.{vkey}.snupkg")
}

/// What a local version's row says, with its package file.
pub struct Entry<'a> {
    pub row: &'a VersionRow,
    pub meta: VersionMeta,
    pub file: &'a FileRow,
    pub version: Version,
}

/// The metadata document a version row keeps.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct VersionMeta {
    /// The normalised version as published (case kept).
    pub version: String,
    #[serde(default)]
    pub semver2: bool,
    pub nuspec: Nuspec,
}

/// The versions of a local package that have their `.nupkg`, in NuGet's
/// order.
pub fn entries<'a>(lid: &str, versions: &'a [VersionRow], files: &'a [FileRow]) -> Vec<Entry<'a>> {
    let mut out: Vec<Entry<'a>> = versions
        .iter()
        .filter_map(|row| {
            let file = files.iter().find(|f| f.version_id == row.id && f.filename == nupkg_file(lid, &row.version))?;
            let meta: VersionMeta = serde_json::from_str(&row.metadata).ok()?;
            let version = Version::parse(&meta.version).ok()?;
            Some(Entry { row, meta, file, version })
        })
        .collect();
    out.sort_by(|a, b| a.version.cmp(&b.version));
    out
}

/// `{"versions": [...]}`: every version (unlisted ones too, as nuget.org
/// keeps them, so that restores of an exact version keep working), lower
/// case, ascending.
pub fn flat_index(keys: &[String]) -> Value {
    json!({ "versions": keys })
}

fn tags(text: &str) -> Vec<String> {
    text.split([' ', ',', ';']).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

fn sha512_b64(hex_digest: &str) -> String {
    hex::decode(hex_digest).map(|b| base64::engine::general_purpose::STANDARD.encode(b)).unwrap_or_default()
}

/// A local version's `catalogEntry`.
pub fn catalog_entry(u: &Urls, lid: &str, display: &str, e: &Entry<'_>) -> Value {
    let vkey = e.version.key();
    let leaf = u.reg_leaf(lid, &vkey);
    let n = &e.meta.nuspec;
    let groups: Vec<Value> = n
        .dependency_groups
        .iter()
        .map(|g| {
            let tf = g.target_framework.clone().unwrap_or_default();
            let deps: Vec<Value> = g
                .dependencies
                .iter()
                .map(|d| {
                    let dl = d.id.to_ascii_lowercase();
                    json!({
                        "@id": format!("{leaf}#dependencygroup/{}/{dl}", tf.to_ascii_lowercase()),
                        "@type": "PackageDependency",
                        "id": d.id,
                        "range": d.range.clone().unwrap_or_else(|| "(, )".into()),
                        "registration": u.reg_index(&dl),
                    })
                })
                .collect();
            let mut group = json!({
                "@id": format!("{leaf}#dependencygroup/{}", tf.to_ascii_lowercase()),
                "@type": "PackageDependencyGroup",
                "dependencies": deps,
            });
            if let Some(tf) = &g.target_framework {
                group["targetFramework"] = json!(tf);
            }
            group
        })
        .collect();
    let listed = !e.row.yanked;
    json!({
        "@id": leaf,
        "@type": "PackageDetails",
        "id": display,
        "version": e.version.normalized(),
        "authors": n.authors,
        "description": n.description,
        "title": n.title,
        "summary": n.summary,
        "tags": tags(&n.tags),
        "projectUrl": n.project_url,
        "licenseUrl": n.license_url,
        "licenseExpression": n.license_expression,
        "iconUrl": n.icon_url,
        "language": n.language,
        "minClientVersion": n.min_client_version,
        "requireLicenseAcceptance": n.require_license_acceptance,
        "listed": listed,
        "published": if listed { crate::http::iso8601(e.row.published_at) } else { UNLISTED_PUBLISHED.to_string() },
        "packageContent": u.nupkg(lid, &vkey),
        "packageHash": sha512_b64(&e.file.sha512),
        "packageHashAlgorithm": "SHA512",
        "packageSize": e.file.size,
        "dependencyGroups": groups,
    })
}

fn leaf_item(u: &Urls, lid: &str, display: &str, e: &Entry<'_>) -> Value {
    let vkey = e.version.key();
    json!({
        "@id": u.reg_leaf(lid, &vkey),
        "@type": "Package",
        "commitTimeStamp": crate::http::iso8601(e.row.published_at),
        "catalogEntry": catalog_entry(u, lid, display, e),
        "packageContent": u.nupkg(lid, &vkey),
        "registration": u.reg_index(lid),
    })
}

fn page(u: &Urls, lid: &str, display: &str, chunk: &[Entry<'_>], inline: bool) -> Value {
    let (lower, upper) = match (chunk.first(), chunk.last()) {
        (Some(a), Some(b)) => (a.version.normalized(), b.version.normalized()),
        _ => (String::new(), String::new()),
    };
    let id = if inline {
        format!("{}#page/{}/{}", u.reg_index(lid), lower.to_ascii_lowercase(), upper.to_ascii_lowercase())
    } else {
        u.reg_page(lid, &lower.to_ascii_lowercase(), &upper.to_ascii_lowercase())
    };
    let mut p = json!({
        "@id": id,
        "@type": "catalog:CatalogPage",
        "count": chunk.len(),
        "lower": lower,
        "upper": upper,
        "parent": u.reg_index(lid),
    });
    if inline {
        p["items"] = Value::Array(chunk.iter().map(|e| leaf_item(u, lid, display, e)).collect());
    }
    p
}

/// A local package's registration index: one inlined page when it has at
/// most [`PAGE`] versions, else pages of [`PAGE`] to fetch.
pub fn registration_index(u: &Urls, lid: &str, display: &str, entries: &[Entry<'_>]) -> Value {
    let inline = entries.len() <= PAGE;
    let pages: Vec<Value> = entries.chunks(PAGE).map(|c| page(u, lid, display, c, inline)).collect();
    json!({
        "@id": u.reg_index(lid),
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": pages.len(),
        "items": pages,
    })
}

/// One page of a paged local registration, by its bounds.
pub fn registration_page(u: &Urls, lid: &str, display: &str, entries: &[Entry<'_>], lower: &Version, upper: &Version) -> Option<Value> {
    entries
        .chunks(PAGE)
        .find(|c| c.first().is_some_and(|e| &e.version == lower) && c.last().is_some_and(|e| &e.version == upper))
        .map(|c| {
            let mut p = page(u, lid, display, c, true);
            p["@id"] = json!(u.reg_page(lid, &lower.key(), &upper.key()));
            p
        })
}

/// A registration leaf document.
pub fn registration_leaf(u: &Urls, lid: &str, vkey: &str, listed: bool, published: &str) -> Value {
    json!({
        "@id": u.reg_leaf(lid, vkey),
        "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
        "catalogEntry": u.reg_leaf(lid, vkey),
        "listed": listed,
        "packageContent": u.nupkg(lid, vkey),
        "published": published,
        "registration": u.reg_index(lid),
    })
}

/// What a search or an autocomplete asks for.
#[derive(Debug, Clone)]
pub struct Query {
    pub q: String,
    pub skip: usize,
    pub take: usize,
    pub prerelease: bool,
    pub semver2: bool,
    /// Autocomplete's `id=`: the versions of one id.
    pub id: Option<String>,
    /// The query string to forward (the client's parameters, re-encoded).
    pub forwarded: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: &str) -> Query {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        let semver = get("semVerLevel").unwrap_or_default();
        Query {
            q: {
                // `id:Foo` and `packageid:Foo` ask for an id, which is what
                // the local search matches anyway.
                let q = get("q").unwrap_or_default();
                let q = q.trim();
                let lower = q.to_ascii_lowercase();
                ["packageid:", "id:"]
                    .iter()
                    .find(|p| lower.starts_with(*p))
                    .map(|p| q[p.len()..].trim().to_string())
                    .unwrap_or_else(|| q.to_string())
            },
            skip: get("skip").and_then(|s| s.parse().ok()).unwrap_or(0).min(100_000),
            take: get("take").and_then(|s| s.parse().ok()).unwrap_or(20).clamp(0, 1000),
            prerelease: get("prerelease").is_some_and(|p| p.eq_ignore_ascii_case("true")),
            semver2: semver.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 2),
            id: get("id").filter(|i| !i.is_empty()),
            forwarded: params
                .iter()
                .filter(|(k, _)| ["q", "prerelease", "semverlevel", "packagetype", "id"].contains(&k.to_ascii_lowercase().as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Whether a version is shown to this query (listed, prerelease and
    /// SemVer 2.0.0 as asked).
    pub fn shows(&self, e: &Entry<'_>) -> bool {
        !e.row.yanked && (self.prerelease || !e.version.is_prerelease()) && (self.semver2 || !e.meta.semver2)
    }
}

/// A local package as a search result, or `None` when none of its versions
/// is shown.
pub fn search_result(u: &Urls, lid: &str, display: &str, entries: &[Entry<'_>], q: &Query) -> Option<Value> {
    let shown: Vec<&Entry<'_>> = entries.iter().filter(|e| q.shows(e)).collect();
    let latest = shown.last()?;
    let n = &latest.meta.nuspec;
    let versions: Vec<Value> = shown
        .iter()
        .map(|e| json!({ "version": e.version.normalized(), "downloads": 0, "@id": u.reg_leaf(lid, &e.version.key()) }))
        .collect();
    let types: Vec<Value> = if n.package_types.is_empty() {
        vec![json!({ "name": "Dependency" })]
    } else {
        n.package_types.iter().map(|t| json!({ "name": t })).collect()
    };
    let mut out = Map::new();
    out.insert("@id".into(), json!(u.reg_index(lid)));
    out.insert("@type".into(), json!("Package"));
    out.insert("registration".into(), json!(u.reg_index(lid)));
    out.insert("id".into(), json!(display));
    out.insert("version".into(), json!(latest.version.normalized()));
    out.insert("description".into(), json!(n.description));
    out.insert("summary".into(), json!(n.summary));
    out.insert("title".into(), json!(n.title));
    out.insert("iconUrl".into(), json!(n.icon_url));
    out.insert("licenseUrl".into(), json!(n.license_url));
    out.insert("projectUrl".into(), json!(n.project_url));
    out.insert("tags".into(), json!(tags(&n.tags)));
    out.insert("authors".into(), json!([n.authors]));
    out.insert("owners".into(), json!([]));
    out.insert("totalDownloads".into(), json!(0));
    out.insert("verified".into(), json!(false));
    out.insert("packageTypes".into(), json!(types));
    out.insert("versions".into(), json!(versions));
    Some(Value::Object(out))
}

/// Version strings in NuGet's order.
pub fn sort_versions(v: &mut [String]) {
    v.sort_by(|a, b| compare(a, b));
}
