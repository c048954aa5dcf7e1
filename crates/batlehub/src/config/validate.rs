//! The cross-checks of a parsed configuration: what no single section can
//! tell (duplicate names, members, upstreams by registry type, S3 and
//! identity provider settings).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::EcosystemRules;
use super::load::{Collector, RegistrySpans};
use super::types::*;

/// Registry names appear in URLs: keep them to a safe alphabet.
pub fn valid_registry_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
        && !name.starts_with('.')
}

/// The parsed sections, before they become a `Config`; each registry with
/// the span of its entry.
pub(super) struct Sections<'a> {
    pub server: &'a ServerConfig,
    pub storage: &'a StorageConfig,
    pub database: &'a DatabaseConfig,
    pub limits: &'a LimitsConfig,
    pub auth: &'a [AuthConfig],
    pub registries: &'a [(RegistrySpans, RegistryConfig)],
    /// Names of registry entries that did not parse (already reported).
    pub broken: &'a [String],
    /// Where each key of each top-level section is (`""`: the section).
    pub top: &'a HashMap<String, HashMap<String, Range<usize>>>,
}

/// The closest of `names` to `wanted`, if it is close enough to be a typo.
fn did_you_mean<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).clamp(1, 3);
    names.map(|n| (edit_distance(wanted, n), n)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d).map(|(_, n)| n)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

pub(super) fn validate(c: &mut Collector<'_>, rules: &dyn EcosystemRules, sections: &Sections<'_>) {
    let Sections { server, storage, database, limits, auth, registries, broken, top } = *sections;
    let section_span = |key: &str| -> Option<Range<usize>> { c.text.find(key).map(|i| i..i + key.len()) };
    // The key's own line in its section, else the section's, else nowhere.
    let key_span = |section: &str, key: &str| -> Option<Range<usize>> {
        let keys = top.get(section)?;
        keys.get(key).or_else(|| keys.get("")).cloned()
    };
    if let Some(url) = &server.public_url {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                let span = key_span("server", "public_url");
                c.push(span, format!("[server] public_url `{url}` must be an absolute http(s) URL"));
            }
        }
    }
    if !(database.url.starts_with("sqlite:")
        || database.url.starts_with("postgres://")
        || database.url.starts_with("postgresql://"))
    {
        let span = key_span("database", "url");
        c.push(span, format!("[database] url `{}` must start with `sqlite://` or `postgres://`", database.url));
    }
    if storage.kind == StorageKind::S3 {
        let span = key_span("storage", "type");
        if storage.bucket.as_deref().is_none_or(str::is_empty) {
            c.push(span, "[storage] type = \"s3\" needs `bucket`");
        }
        if let Some(e) = &storage.endpoint_url
            && url::Url::parse(e).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true)
        {
            c.push(
                key_span("storage", "endpoint_url"),
                format!("[storage] endpoint_url `{e}` must be an absolute http(s) URL"),
            );
        }
        if storage.access_key_id.is_some() != storage.secret_access_key.is_some() {
            let given = if storage.access_key_id.is_some() { "access_key_id" } else { "secret_access_key" };
            c.push(key_span("storage", given), "[storage] access_key_id and secret_access_key go together");
        }
    } else if storage.bucket.is_some() || storage.endpoint_url.is_some() {
        let span = key_span("storage", if storage.bucket.is_some() { "bucket" } else { "endpoint_url" });
        c.push(span, "[storage] bucket and endpoint_url need type = \"s3\"");
    }
    if storage.gc_grace_secs < 60 {
        c.push(
            key_span("storage", "gc_grace_secs"),
            "[storage] gc_grace_secs must be at least 60: a blob being published or fetched must outlive its upload",
        );
    }
    if server.header_read_timeout_secs == 0 {
        c.push(key_span("server", "header_read_timeout_secs"), "[server] header_read_timeout_secs must be at least 1");
    }
    if server.max_connections == 0 {
        c.push(key_span("server", "max_connections"), "[server] max_connections must be at least 1");
    }
    match (&server.tls_cert_file, &server.tls_key_file) {
        (Some(cert), Some(key)) => {
            if let Err(e) = crate::tls::load_certified_key(cert, key) {
                c.push(key_span("server", "tls_cert_file"), format!("[server] tls_cert_file / tls_key_file: {e}"));
            }
        }
        (None, None) => {}
        _ => c.push(
            key_span("server", "tls_cert_file").or_else(|| key_span("server", "tls_key_file")),
            "[server] tls_cert_file and tls_key_file go together",
        ),
    }
    for (key, value) in [
        ("upstream_document_timeout_secs", limits.upstream_document_timeout_secs),
        ("upstream_artifact_timeout_secs", limits.upstream_artifact_timeout_secs),
        ("auth_failures_per_minute", u64::from(limits.auth_failures_per_minute)),
        ("argon2_concurrency", limits.argon2_concurrency as u64),
    ] {
        if value == 0 {
            c.push(key_span("limits", key), format!("[limits] {key} must be at least 1"));
        }
    }
    if database.max_connections == 0 {
        let span = key_span("database", "max_connections");
        c.push(span, "[database] max_connections must be at least 1");
    }
    // User ids of providers other than the static tokens are scoped by the
    // provider's name (`oidc:<name>:<sub>`): two providers with one name
    // would share their subjects' ids, and a static provider of that name
    // its tokens' authority.
    let static_names: HashSet<&str> = auth
        .iter()
        .filter_map(|a| match a {
            AuthConfig::Token(t) => Some(t.name.as_deref().unwrap_or("token")),
            _ => None,
        })
        .collect();
    let mut provider_names = HashSet::new();
    for a in auth {
        let name = match a {
            AuthConfig::Oidc(o) => &o.name,
            AuthConfig::ActionsOidc(x) => &x.name,
            AuthConfig::Kubernetes(k) => &k.name,
            AuthConfig::Token(_) => continue,
        };
        if !provider_names.insert(name.as_str()) || static_names.contains(name.as_str()) {
            c.push(
                section_span(&format!("name = \"{name}\"")),
                format!("[[auth]] provider name `{name}` is used twice: every identity provider needs its own name"),
            );
        }
        if name.is_empty() || name.contains(':') || name.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            c.push(
                section_span(&format!("name = \"{name}\"")),
                format!("[[auth]] provider name `{name}` must be non-empty, without `:` or spaces"),
            );
        }
    }
    for a in auth {
        match a {
            AuthConfig::Oidc(o) => {
                if url::Url::parse(&o.issuer_url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                    c.push(
                        section_span(&o.issuer_url),
                        format!("[[auth]] {}: issuer_url must be an http(s) URL", o.name),
                    );
                }
            }
            AuthConfig::ActionsOidc(a) => {
                if url::Url::parse(&a.issuer_url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                    c.push(
                        section_span(&a.issuer_url),
                        format!("[[auth]] {}: issuer_url must be an http(s) URL", a.name),
                    );
                }
                if a.audience.trim().is_empty() {
                    c.push(section_span("actions-oidc"), format!("[[auth]] {}: audience is required", a.name));
                }
                if a.rules.is_empty() {
                    c.push(
                        section_span("actions-oidc"),
                        format!("[[auth]] {}: at least one [[auth.rules]] is needed", a.name),
                    );
                }
                for r in &a.rules {
                    if r.conditions.is_empty() {
                        c.push(
                            section_span("[[auth.rules]]"),
                            format!(
                                "[[auth]] {}: a rule without conditions would admit every repository of the issuer",
                                a.name
                            ),
                        );
                    }
                    if r.group.is_none() == r.group_template.is_none() {
                        c.push(
                            section_span("[[auth.rules]]"),
                            format!("[[auth]] {}: a rule needs exactly one of group and group_template", a.name),
                        );
                    }
                    for cond in &r.conditions {
                        if cond.pattern.starts_with('^')
                            && cond.pattern.ends_with('$')
                            && regex::Regex::new(&cond.pattern).is_err()
                        {
                            c.push(
                                section_span(&cond.pattern),
                                format!("[[auth]] {}: invalid regular expression `{}`", a.name, cond.pattern),
                            );
                        }
                    }
                }
            }
            AuthConfig::Kubernetes(k) => {
                if url::Url::parse(&k.api_server).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                    c.push(
                        section_span(&k.api_server),
                        format!("[[auth]] {}: api_server must be an http(s) URL", k.name),
                    );
                }
            }
            AuthConfig::Token(t) => {
                for tok in &t.tokens {
                    if crate::access::is_scoped_user_id(&tok.user_id) {
                        c.push(
                            section_span(&tok.user_id),
                            format!(
                                "static token user_id `{}` must not start with `oidc:`, `actions:` or `kubernetes:`: \
                                 those are the user ids of identity providers",
                                tok.user_id
                            ),
                        );
                    }
                    if tok.user_id.trim().is_empty() {
                        c.push(section_span("[[auth.tokens]]"), "a static token needs a non-empty user_id");
                    }
                    // Argon2 runs only for credentials that can be nothing
                    // but a static token: API tokens and JWTs never reach it.
                    let dots = tok.value.matches('.').count();
                    if tok.value.starts_with("bh_") || (dots == 2 && !tok.value.starts_with("$argon2")) {
                        c.push(
                            section_span("[[auth.tokens]]"),
                            format!(
                                "token for `{}` must not look like an API token (bh_...) or a JWT (a.b.c)",
                                tok.user_id
                            ),
                        );
                    }
                    if tok.value.is_empty() {
                        c.push(
                            section_span("[[auth.tokens]]"),
                            format!("token for `{}` has an empty value", tok.user_id),
                        );
                    }
                    if tok.value.starts_with("$argon2")
                        && argon2::password_hash::phc::PasswordHash::new(&tok.value).is_err()
                    {
                        c.push(
                            section_span(&tok.value),
                            format!("token for `{}` is not a valid Argon2 PHC string", tok.user_id),
                        );
                    }
                }
            }
        }
    }
    let mut seen = HashSet::new();
    let names: Vec<&str> =
        registries.iter().map(|(_, r)| r.name.as_str()).chain(broken.iter().map(String::as_str)).collect();
    if let Some(w) = &server.well_known_registry
        && !names.contains(&w.as_str())
    {
        c.push(
            key_span("server", "well_known_registry"),
            format!("[server] well_known_registry `{w}` is not a registry"),
        );
    }
    for (spans, r) in registries {
        let at = |key: &str| Some(spans.key(key));
        if !valid_registry_name(&r.name) {
            c.push(
                at("name"),
                format!("registry name `{}` may only contain letters, digits, `-`, `_` and `.`", r.name),
            );
        }
        if !seen.insert(r.name.as_str()) || broken.contains(&r.name) {
            c.push(at("name"), format!("duplicate registry name `{}`", r.name));
        }
        let served_by_members = r.mode == Mode::Proxy && !r.members.is_empty();
        if r.mode.has_upstream() && r.upstreams.is_empty() && !served_by_members {
            c.push(at("mode"), format!("registry `{}` is in {} mode but has no `upstreams`", r.name, r.mode.as_str()));
        }
        if r.mode == Mode::Local && !r.upstreams.is_empty() {
            c.push(
                at("upstreams"),
                format!("registry `{}` is in local mode: remove its `upstreams` or use mode = \"hybrid\"", r.name),
            );
        }
        if let Err(msg) = rules.check_options(r.kind, &r.options) {
            c.push(at("options"), format!("registry `{}`: {msg}", r.name));
        }
        for u in &r.upstreams {
            // What an upstream URL may look like is the registry type's rule.
            if let Err(msg) = rules.check_upstream(r.kind, u) {
                c.push(at("upstreams"), format!("registry `{}`: {msg}", r.name));
            }
        }
        for h in &r.artifact_hosts {
            let origin_only = url::Url::parse(h).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if !origin_only {
                c.push(
                    at("artifact_hosts"),
                    format!(
                        "registry `{}`: artifact_hosts entry `{h}` must be an origin: http(s), a host and an optional port, no path (`https://files.example`)",
                        r.name
                    ),
                );
            }
        }
        if !r.mode.has_upstream() && (!r.artifact_hosts.is_empty() || r.allow_private_addresses) {
            c.push(
                at(if r.artifact_hosts.is_empty() { "allow_private_addresses" } else { "artifact_hosts" }),
                format!(
                    "registry `{}` has no upstreams: artifact_hosts and allow_private_addresses do not apply",
                    r.name
                ),
            );
        }
        for (key, value) in [
            ("requests_per_minute", r.limits.requests_per_minute),
            ("anonymous_requests_per_minute", r.limits.anonymous_requests_per_minute),
        ] {
            if value == Some(0) {
                c.push(
                    at("limits"),
                    format!("registry `{}`: limits.{key} must be at least 1 (leave it out for no limit)", r.name),
                );
            }
        }
        let quotas = r.limits.user_quota.iter().map(|q| ("user_quota".to_string(), q));
        let quotas = quotas.chain(r.limits.group_quotas.iter().map(|(g, q)| (format!("group_quotas.\"{g}\""), q)));
        for (key, q) in quotas {
            if q.versions.is_none() && q.bytes.is_none() || q.versions == Some(0) || q.bytes == Some(0) {
                c.push(
                    at("limits"),
                    format!("registry `{}`: limits.{key} needs `versions` or `bytes`, each at least 1", r.name),
                );
            }
        }
        if !r.mode.has_local() && (r.limits.user_quota.is_some() || !r.limits.group_quotas.is_empty()) {
            c.push(at("limits"), format!("registry `{}`: publish quotas need mode = \"local\" or \"hybrid\"", r.name));
        }
        for m in &r.members {
            match registries.iter().find(|(_, o)| &o.name == m) {
                // Reported where it is defined.
                None if broken.contains(m) => {}
                None => {
                    let hint = did_you_mean(m, names.iter().copied().filter(|n| *n != r.name))
                        .map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default();
                    c.push(
                        at("members"),
                        format!("registry `{}`: member `{m}` is not a configured registry{hint}", r.name),
                    )
                }
                Some((_, o)) if o.name == r.name => {
                    c.push(at("members"), format!("registry `{}` cannot be its own member", r.name))
                }
                Some((_, o)) if o.kind != r.kind => c.push(
                    at("members"),
                    format!("registry `{}`: member `{m}` is of type `{}`, not `{}`", r.name, o.kind, r.kind),
                ),
                Some((_, o)) if !o.mode.has_local() => c.push(
                    at("members"),
                    format!("registry `{}`: member `{m}` must be in local or hybrid mode", r.name),
                ),
                Some((_, o)) if !o.members.is_empty() => c.push(
                    at("members"),
                    format!("registry `{}`: member `{m}` has members of its own; nesting is not supported", r.name),
                ),
                Some(_) => {}
            }
        }
        for ns in &r.namespaces {
            if ns.prefix.is_empty() || ns.prefix.len() > 200 || ns.prefix.chars().any(char::is_control) {
                c.push(
                    at("namespaces"),
                    format!(
                        "registry `{}`: namespace prefix `{}` must be 1 to 200 printable characters",
                        r.name, ns.prefix
                    ),
                );
            }
            if ns.group.trim().is_empty() {
                c.push(at("namespaces"), format!("registry `{}`: namespace `{}` needs a group", r.name, ns.prefix));
            }
        }
        for (i, ns) in r.namespaces.iter().enumerate() {
            if r.namespaces[..i].iter().any(|o| o.prefix == ns.prefix) {
                c.push(
                    at("namespaces"),
                    format!("registry `{}`: namespace prefix `{}` is claimed twice", r.name, ns.prefix),
                );
            }
        }
        if let Some(tls) = &r.tls
            && !tls.ca_file.exists()
        {
            c.push(at("tls"), format!("registry `{}`: tls.ca_file `{}` does not exist", r.name, tls.ca_file.display()));
        }
    }
}
