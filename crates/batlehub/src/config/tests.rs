use super::*;
use crate::access::{Grants, Permission};

fn env(name: &str) -> Option<String> {
    match name {
        "UPSTREAM" => Some("https://npm-upstream.example".into()),
        "TOKEN" => Some("s3cret".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse_with_env(text, &env, &crate::ecosystems::Rules)
}

fn lines(err: &ConfigErrors) -> Vec<usize> {
    err.0.iter().map(|e| e.line).collect()
}

#[test]
fn embedded_default_is_valid() {
    let cfg = Config::embedded_default(&crate::ecosystems::Rules).expect("embedded default parses");
    assert_eq!(cfg.server.port, 8080);
    assert_eq!(cfg.registries.len(), 1);
    assert_eq!(cfg.registries[0].mode, Mode::Local);
}

#[test]
fn full_example() {
    let cfg = parse(
        r#"
[server]
host = "0.0.0.0"
port = 9000
public_url = "https://batlehub.example.com"
trusted_proxies = ["10.0.0.0/8"]

[[auth]]
type = "token"
[[auth.tokens]]
value = "${TOKEN}"
role = "admin"
user_id = "root"
groups = ["ops"]

[[registries]]
type = "npm"
name = "npm"
mode = "hybrid"
upstreams = ["${UPSTREAM}"]
members = ["internal-npm"]
[registries.rbac]
anonymous = ["releases:read"]
[registries.rbac.groups]
"oidc:*" = ["releases:write"]
[registries.cache]
metadata_ttl_secs = 60

[[registries]]
type = "npm"
name = "internal-npm"
mode = "local"
"#,
    )
    .expect("valid");
    assert_eq!(cfg.server.port, 9000);
    let AuthConfig::Token(t) = &cfg.auth[0] else { panic!("a token provider") };
    assert_eq!(t.tokens[0].value, "s3cret");
    let npm = cfg.registry("npm").expect("npm");
    assert_eq!(npm.upstreams, vec!["https://npm-upstream.example".to_string()]);
    assert_eq!(npm.cache.metadata_ttl_secs, 60);
    let grants = npm.grants();
    assert_eq!(grants.anonymous, vec![Permission::ReleasesRead]);
    assert!(grants.user.is_empty());
    assert_eq!(grants.admin, vec![Permission::All]);
    assert_eq!(cfg.registry("internal-npm").map(|r| r.grants()), Some(Grants::defaults(true)));
}

#[test]
fn every_error_is_reported_with_its_line() {
    let text = r#"[server]
port = 8080
colour = "blue"

[[registries]]
type = "npm"
name = "a"
mode = "proxy"

[[registries]]
type = "npm"
name = "a"
mode = "local"
bogus = 1

[[registries]]
type = "nosuch"
name = "b"

[wat]
x = 1
"#;
    let err = parse(text).expect_err("invalid");
    let msgs: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
    let all = msgs.join("\n");
    assert!(all.contains("colour"), "{all}");
    assert!(all.contains("bogus"), "{all}");
    assert!(all.contains("nosuch"), "{all}");
    assert!(all.contains("unknown key `wat`"), "{all}");
    assert!(all.contains("no `upstreams`"), "{all}");
    let ls = lines(&err);
    assert!(ls.contains(&3), "colour on line 3: {all}");
    assert!(ls.contains(&20), "wat on line 20: {all}");
    assert!(ls.iter().any(|l| (10..=14).contains(l)), "bogus in the second registry: {all}");
    assert!(ls.iter().any(|l| (16..=18).contains(l)), "nosuch in the third registry: {all}");
    assert!(err.0.len() >= 5, "{all}");
}

#[test]
fn duplicate_names_and_members() {
    let text = r#"
[[registries]]
type = "npm"
name = "x"
mode = "local"

[[registries]]
type = "npm"
name = "x"
mode = "local"

[[registries]]
type = "npm"
name = "agg"
mode = "hybrid"
upstreams = ["https://npm-upstream.example"]
members = ["missing", "agg"]
"#;
    let err = parse(text).expect_err("invalid");
    let all = err.to_string();
    assert!(all.contains("duplicate registry name `x`"), "{all}");
    assert!(all.contains("member `missing` is not a configured registry"), "{all}");
    assert!(all.contains("cannot be its own member"), "{all}");
    // Each at the key concerned: the second `name`, the `members` line.
    assert!(err.0.iter().any(|e| e.line == 9 && e.message.contains("duplicate")), "{all}");
    assert!(err.0.iter().filter(|e| e.message.contains("member")).all(|e| e.line == 17), "{all}");
}

#[test]
fn bad_values() {
    let text = r#"
[server]
port = "eighty"

[[registries]]
type = "npm"
name = "bad name!"
mode = "sideways"
"#;
    let err = parse(text).expect_err("invalid");
    let all = err.to_string();
    assert!(err.0.iter().any(|e| e.line == 3), "{all}");
    assert!(all.contains("sideways"), "{all}");
}

#[test]
fn every_type_of_the_format_is_served() {
    assert_eq!(crate::kinds::Kind::planned().count(), 0);
    parse("[[registries]]\ntype = \"terraform\"\nname = \"tf\"\nmode = \"local\"\n").expect("terraform is served");
    let err = parse("[[registries]]\ntype = \"helm\"\nname = \"h\"\nmode = \"local\"\n").expect_err("invalid");
    assert!(err.to_string().contains("unknown registry type `helm`"), "{err}");
}

#[test]
fn unset_env_var_names_its_line() {
    let err = parse("[server]\nhost = \"127.0.0.1\"\npublic_url = \"${NOPE}\"\n").expect_err("invalid");
    assert_eq!(err.0[0].line, 3);
    assert!(err.0[0].message.contains("NOPE"));
}

#[test]
fn interpolation_forms() {
    assert_eq!(interpolate("a${TOKEN}b", &env).as_deref(), Ok("as3cretb"));
    assert_eq!(interpolate("${MISSING:-dflt}", &env).as_deref(), Ok("dflt"));
    assert_eq!(interpolate("$${TOKEN}", &env).as_deref(), Ok("${TOKEN}"));
    assert_eq!(interpolate("cost $5", &env).as_deref(), Ok("cost $5"));
    assert!(interpolate("${UNCLOSED", &env).is_err());
}

#[test]
fn syntax_errors_have_lines() {
    let err = parse("[server]\nport = 80\n[[registries]\n").expect_err("invalid");
    assert_eq!(err.0[0].line, 3, "{err}");
}

#[test]
fn identity_providers() {
    let cfg = parse(
        r#"
[[auth]]
type = "oidc"
issuer_url = "https://idp.example/realms/main"
client_id = "batlehub"
[auth.role_mappings]
"admins" = "admin"

[[auth]]
type = "actions-oidc"
name = "github-actions"
issuer_url = "https://actions-issuer.example"
audience = "batlehub"
[[auth.rules]]
group_template = "github-actions/{repository}/{ref_name}"
[[auth.rules.conditions]]
claim = "repository_owner"
pattern = "myorg"

[[auth]]
type = "kubernetes"
api_server = "https://127.0.0.1:6443"
"#,
    )
    .expect("valid");
    assert_eq!(cfg.auth.len(), 3);
    let err = parse(
        "[[auth]]\ntype = \"actions-oidc\"\nissuer_url = \"https://a.example\"\naudience = \"batlehub\"\n[[auth.rules]]\ngroup = \"everyone\"\n",
    )
    .expect_err("a rule without conditions");
    assert!(err.to_string().contains("without conditions"), "{err}");
    let err =
        parse("[[auth]]\ntype = \"oidc\"\nissuer_url = \"not a url\"\nclient_id = \"x\"\n").expect_err("bad issuer");
    assert!(err.to_string().contains("issuer_url"), "{err}");
}

#[test]
fn s3_storage_keys_and_their_errors() {
    let cfg = parse(
        r#"
[storage]
type = "s3"
path = "/var/cache/batlehub"
bucket = "artifacts"
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:9000"
force_path_style = true
prefix = "team-a/"
access_key_id = "AKIA"
secret_access_key = "${TOKEN}"
"#,
    )
    .expect("valid");
    assert_eq!(cfg.storage.kind, StorageKind::S3);
    assert_eq!(cfg.storage.bucket.as_deref(), Some("artifacts"));
    assert!(cfg.storage.force_path_style);
    assert_eq!(cfg.storage.prefix, "team-a/");
    assert_eq!(cfg.storage.secret_access_key.as_deref(), Some("s3cret"));

    let err =
        parse("[storage]\ntype = \"s3\"\nendpoint_url = \"ftp://x\"\naccess_key_id = \"a\"\n").expect_err("invalid");
    let all = err.to_string();
    assert!(all.contains("needs `bucket`"), "{all}");
    assert!(all.contains("must be an absolute http(s) URL"), "{all}");
    assert!(all.contains("go together"), "{all}");
    // `bucket` is missing where `type` asks for it; the others at their keys.
    assert_eq!(lines(&err), vec![2, 3, 4]);
    let err = parse("[storage]\nbucket = \"b\"\n").expect_err("invalid");
    assert!(err.to_string().contains("need type = \"s3\""), "{err}");
}

#[test]
fn static_tokens_cannot_look_like_api_tokens_or_jwts_and_limits_are_positive() {
    let text = r#"[server]
max_connections = 0
header_read_timeout_secs = 0

[limits]
upstream_document_timeout_secs = 0
argon2_concurrency = 0

[[auth]]
type = "token"
[[auth.tokens]]
value = "bh_imitation"
role = "user"
user_id = "a"
[[auth.tokens]]
value = "aaa.bbb.ccc"
role = "user"
user_id = "b"
"#;
    let all = parse(text).expect_err("invalid").to_string();
    for needle in [
        "token for `a` must not look like an API token",
        "token for `b` must not look like an API token",
        "max_connections must be at least 1",
        "header_read_timeout_secs must be at least 1",
        "upstream_document_timeout_secs must be at least 1",
        "argon2_concurrency must be at least 1",
    ] {
        assert!(all.contains(needle), "{needle}: {all}");
    }
}

#[test]
fn namespace_prefixes_take_their_ecosystems_spelling() {
    let cfg = parse(
        r#"
[[registries]]
type = "cargo"
name = "crates"
mode = "local"
namespaces = [{ prefix = "My_Org_", group = "g" }]

[[registries]]
type = "pypi"
name = "py"
mode = "local"
namespaces = [{ prefix = "Acme..Tools_", group = "g" }, { prefix = "Zed", group = "g" }]

[[registries]]
type = "npm"
name = "js"
mode = "local"
namespaces = [{ prefix = "@FrontEnd/", group = "g" }]
"#,
    )
    .expect("valid");
    let prefixes = |name: &str| -> Vec<String> {
        cfg.registry(name).map(|r| r.namespaces.iter().map(|n| n.prefix.clone()).collect()).unwrap_or_default()
    };
    assert_eq!(prefixes("crates"), ["my-org-"]);
    assert_eq!(prefixes("py"), ["acme-tools-", "zed"]);
    assert_eq!(prefixes("js"), ["@frontend/"]);
}

#[test]
fn namespace_prefixes_that_cannot_match_are_refused() {
    let err = parse(
        r#"
[[registries]]
type = "cargo"
name = "crates"
mode = "local"
namespaces = [{ prefix = "my.org", group = "g" }, { prefix = "a_", group = "g" }, { prefix = "A-", group = "h" }]

[[registries]]
type = "pypi"
name = "py"
mode = "local"
namespaces = [{ prefix = "__", group = "g" }, { prefix = "acme/", group = "g" }]
"#,
    )
    .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("crate names are ASCII letters"), "{text}");
    assert!(text.contains("`a-` is claimed twice"), "{text}");
    assert!(text.contains("must contain a letter or digit"), "{text}");
    assert!(text.contains("project names are ASCII letters"), "{text}");
}

#[test]
fn users_publish_by_default_only_to_local_registries() {
    let cfg = parse(
        r#"
[[registries]]
type = "npm"
name = "private"
mode = "local"

[[registries]]
type = "npm"
name = "hybrid"
mode = "hybrid"
upstreams = ["https://npm-upstream.example"]
allow_upstream_names = ["Left-Pad"]
"#,
    )
    .expect("valid");
    let user = |name: &str, p: Permission| cfg.registry(name).map(|r| r.grants().user.contains(&p)).unwrap_or(false);
    assert!(user("private", Permission::ReleasesWrite));
    assert!(user("hybrid", Permission::ReleasesRead));
    assert!(!user("hybrid", Permission::ReleasesWrite), "a hybrid registry's names shadow the upstream's");
    assert_eq!(cfg.registry("hybrid").map(|r| r.allow_upstream_names.clone()), Some(vec!["Left-Pad".to_string()]));
    let err = parse(
        r#"
[[registries]]
type = "cargo"
name = "crates"
mode = "hybrid"
upstreams = ["https://crates-upstream.example"]
allow_upstream_names = ["not a crate"]
"#,
    )
    .expect_err("invalid name");
    assert!(err.to_string().contains("`not a crate` is not a valid cargo name"), "{err}");
}

#[test]
fn garbage_collection_and_artifact_host_settings() {
    let ok = r#"
[storage]
gc_grace_secs = 3600
gc_interval_secs = 0

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["https://npm-upstream.example"]
artifact_hosts = ["https://files.npm-upstream.example", "http://10.0.0.7:8080"]
allow_private_addresses = true
"#;
    let c = parse(ok).expect("valid");
    assert_eq!((c.storage.gc_grace_secs, c.storage.gc_interval_secs), (3600, 0));
    assert_eq!(c.registries[0].artifact_hosts.len(), 2);
    assert!(c.registries[0].allow_private_addresses);
    let d = parse("[[registries]]\ntype = \"npm\"\nname = \"npm\"\nmode = \"local\"\n").expect("valid");
    assert_eq!((d.storage.gc_grace_secs, d.storage.gc_interval_secs), (86_400, 3_600));
    assert!(d.registries[0].artifact_hosts.is_empty() && !d.registries[0].allow_private_addresses);

    let bad = r#"
[storage]
gc_grace_secs = 5

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["https://npm-upstream.example"]
artifact_hosts = ["https://files.npm-upstream.example/path/", "ftp://files.example", "files.example"]

[[registries]]
type = "npm"
name = "local"
mode = "local"
allow_private_addresses = true
"#;
    let all = parse(bad).expect_err("invalid").to_string();
    assert!(all.contains("gc_grace_secs must be at least 60"), "{all}");
    for entry in ["https://files.npm-upstream.example/path/", "ftp://files.example", "`files.example`"] {
        assert!(all.contains(entry), "{entry}: {all}");
    }
    assert!(all.contains("registry `local` has no upstreams"), "{all}");
}

#[test]
fn provider_scoped_user_ids_cannot_be_forged_by_the_configuration() {
    // A static user may not take the form of a provider's user ids, and
    // two providers (or a provider and the static tokens) may not share a
    // name: either would let one identity answer to another's id.
    let text = r#"[[auth]]
type = "token"
[[auth.tokens]]
value = "a-plain-token"
role = "user"
user_id = "oidc:corp:alice"

[[auth]]
type = "oidc"
name = "corp"
issuer_url = "https://idp.example/a"
client_id = "batlehub"

[[auth]]
type = "oidc"
name = "corp"
issuer_url = "https://idp.example/b"
client_id = "batlehub"

[[auth]]
type = "kubernetes"
name = "token"
"#;
    let all = parse(text).expect_err("invalid").to_string();
    for needle in [
        "static token user_id `oidc:corp:alice` must not start with `oidc:`",
        "provider name `corp` is used twice",
        "provider name `token` is used twice",
    ] {
        assert!(all.contains(needle), "{needle}: {all}");
    }
}

#[test]
fn registry_rate_limits_are_positive_and_their_keys_known() {
    let reg = |limits: &str| {
        format!("[[registries]]\ntype = \"npm\"\nname = \"n\"\nmode = \"local\"\n[registries.limits]\n{limits}\n")
    };
    let cfg = parse(&reg("requests_per_minute = 600\nanonymous_requests_per_minute = 60")).expect("valid");
    assert_eq!(cfg.registries[0].limits.requests_per_minute, Some(600));
    assert_eq!(cfg.registries[0].limits.anonymous_requests_per_minute, Some(60));
    let err = parse(&reg("requests_per_minute = 0")).expect_err("zero");
    assert!(err.to_string().contains("limits.requests_per_minute must be at least 1"), "{err}");
    let err = parse(&reg("request_per_minute = 10")).expect_err("unknown key");
    assert!(err.to_string().contains("request_per_minute"), "{err}");
}

#[test]
fn publish_quotas_need_a_limit_and_a_publishing_registry() {
    let reg = |mode: &str, limits: &str| {
        format!("[[registries]]\ntype = \"npm\"\nname = \"n\"\nmode = \"{mode}\"\nupstreams = []\n[registries.limits]\n{limits}\n")
            .replace("upstreams = []\n", if mode == "proxy" { "upstreams = [\"https://npm-upstream.example\"]\n" } else { "" })
    };
    let cfg = parse(&reg(
        "local",
        "user_quota = { versions = 10, bytes = 1000 }\ngroup_quotas = { \"oidc:t\" = { bytes = 5 } }",
    ))
    .expect("valid");
    assert_eq!(cfg.registries[0].limits.user_quota.as_ref().and_then(|q| q.versions), Some(10));
    let err = parse(&reg("local", "user_quota = {}")).expect_err("empty");
    assert!(err.to_string().contains("limits.user_quota needs `versions` or `bytes`"), "{err}");
    let err = parse(&reg("proxy", "user_quota = { versions = 1 }")).expect_err("proxy");
    assert!(err.to_string().contains("publish quotas need mode"), "{err}");
}
