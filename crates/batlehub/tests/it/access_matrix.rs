//! The whole access matrix on the wire: identities (anonymous, user without
//! group, user in the claiming group, admin) × visibility (public, internal,
//! team) × namespace claim (claimed, free) × registry mode (local, hybrid) ×
//! operation (read listing, read artifact, search, publish, change
//! visibility). Expectations come from the rules, written out here
//! independently of the server's code; every mismatch is reported at once.

use serde_json::{Value, json};

use crate::support::fake_npm::FakeNpm;
use crate::support::npm::{publish, tarball};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, config};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    Bob,
    Alice,
    Admin,
}

impl Who {
    fn token(self) -> Option<&'static str> {
        match self {
            Who::Anonymous => None,
            Who::Bob => Some(BOB),
            Who::Alice => Some(ALICE),
            Who::Admin => Some(ADMIN),
        }
    }
}

const WHO: [Who; 4] = [Who::Anonymous, Who::Bob, Who::Alice, Who::Admin];

/// (name, visibility, claimed by oidc:myorg)
const PACKAGES: [(&str, &str, bool); 5] = [
    ("@team/pub", "public", true),
    ("@team/int", "internal", true),
    ("@team/tm", "team", true),
    ("free-pub", "public", false),
    ("free-int", "internal", false),
];

fn sees(who: Who, visibility: &str) -> bool {
    match (who, visibility) {
        (Who::Admin, _) => true,
        (_, "public") => true,
        (Who::Anonymous, _) => false,
        (_, "internal") => true,
        (Who::Alice, "team") => true, // alice is in oidc:myorg, the claim's group
        _ => false,
    }
}

fn hidden_status(who: Who) -> u16 {
    if who == Who::Anonymous { 401 } else { 404 }
}

#[tokio::test]
async fn no_combination_leaks_or_lets_a_write_through() {
    let up = FakeNpm::start().await;
    // The upstream has a name under the claim: it must never be served.
    up.add("@team/ghost", "1.0.0", tarball("@team/ghost", "1.0.0", &[]));
    let rbac = r#"
[registries.rbac]
anonymous = ["releases:read", "source:read"]
user = ["releases:read", "source:read", "releases:write"]
"#;
    let s = TestServer::start(&config(&format!(
        "[[registries]]\ntype = \"npm\"\nname = \"local\"\nmode = \"local\"\n{rbac}\n[[registries]]\ntype = \"npm\"\nname = \"hybrid\"\nmode = \"hybrid\"\nupstreams = [\"{}\"]\n{rbac}",
        up.url
    )))
    .await;
    let c = client();
    let mut failures: Vec<String> = Vec::new();
    for reg_name in ["local", "hybrid"] {
        s.app.catalog.add_claim(reg_name, "@team/", "oidc:myorg", None).await.expect("claim");
        let reg = s.reg(reg_name);
        for (name, visibility, _) in PACKAGES {
            assert_eq!(publish(&c, &reg, ADMIN, name, "1.0.0").await.0, 201, "{name}");
            let p = s.app.catalog.get_package(reg_name, name).await.expect("db").expect("row");
            s.app
                .catalog
                .set_visibility(&p.id, batlehub::access::Visibility::parse(visibility).expect("vis"))
                .await
                .expect("set");
        }
        for who in WHO {
            let get = |path: String| {
                let mut r = c.get(path);
                if let Some(t) = who.token() {
                    r = r.bearer_auth(t);
                }
                r.send()
            };
            // Search: exactly what the caller may see.
            let found: Value =
                get(format!("{reg}/-/v1/search?text=")).await.expect("search").json().await.expect("json");
            let mut names: Vec<String> = found["objects"]
                .as_array()
                .map(|a| a.iter().filter_map(|o| o["package"]["name"].as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            names.sort();
            let mut expected: Vec<String> =
                PACKAGES.iter().filter(|(_, v, _)| sees(who, v)).map(|(n, _, _)| n.to_string()).collect();
            expected.sort();
            if names != expected {
                failures.push(format!("{reg_name} {who:?} search: got {names:?}, expected {expected:?}"));
            }
            for (name, visibility, claimed) in PACKAGES {
                let escaped = name.replacen('/', "%2f", 1);
                let bare = name.rsplit('/').next().unwrap_or(name);
                let visible = sees(who, visibility);
                let read = if visible { 200 } else { hidden_status(who) };
                let got = get(format!("{reg}/{escaped}")).await.expect("get").status().as_u16();
                if got != read {
                    failures
                        .push(format!("{reg_name} {who:?} {name} ({visibility}) listing: got {got}, expected {read}"));
                }
                let got = get(format!("{reg}/{name}/-/{bare}-1.0.0.tgz")).await.expect("get").status().as_u16();
                if got != read {
                    failures
                        .push(format!("{reg_name} {who:?} {name} ({visibility}) artifact: got {got}, expected {read}"));
                }
                // Publish a new version: members of the claim's group and
                // admins under a claim; owners (admin here) elsewhere.
                let write = match who {
                    Who::Anonymous => 401,
                    Who::Admin => 201,
                    Who::Alice if claimed => 201,
                    _ => 403,
                };
                let version = format!("1.0.{}", WHO.iter().position(|w| *w == who).unwrap_or(0) + 1);
                let (got, body) = match who.token() {
                    Some(t) => publish(&c, &reg, t, name, &version).await,
                    None => {
                        let r = c
                            .put(format!("{reg}/{escaped}"))
                            .json(&crate::support::npm::publish_body(
                                name,
                                &version,
                                &tarball(name, &version, &[]),
                                &reg,
                            ))
                            .send()
                            .await
                            .expect("put");
                        (r.status().as_u16(), Value::Null)
                    }
                };
                if got != write {
                    failures.push(format!(
                        "{reg_name} {who:?} {name} ({visibility}) publish: got {got}, expected {write}: {body}"
                    ));
                }
                if got == 403 && body.to_string().contains("own") && claimed {
                    failures.push(format!(
                        "{reg_name} {who:?} {name}: a refused write under a claim must not reveal the package"
                    ));
                }
                // Change visibility (back to what it is: the state stays put).
                let vis_url = format!(
                    "{}/api/v1/registries/{reg_name}/packages/{}/visibility",
                    s.url,
                    name.replacen('/', "%2F", 1)
                );
                let mut r = c.put(vis_url).json(&json!({"visibility": visibility}));
                if let Some(t) = who.token() {
                    r = r.bearer_auth(t);
                }
                let got = r.send().await.expect("put").status().as_u16();
                let allowed = match who {
                    Who::Anonymous => 401,
                    _ if !visible => 404,
                    Who::Admin => 200,
                    Who::Alice if claimed => 200,
                    _ => 403,
                };
                if got != allowed {
                    failures.push(format!(
                        "{reg_name} {who:?} {name} ({visibility}) visibility: got {got}, expected {allowed}"
                    ));
                }
            }
            // A claimed name that only the upstream has: never served, in any mode.
            let got = get(format!("{reg}/@team%2fghost")).await.expect("get").status().as_u16();
            if got != 404 {
                failures.push(format!("{reg_name} {who:?} @team/ghost: got {got}, expected 404"));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    // Hybrid search asks the upstream's search (and drops claimed names from
    // its answer); nothing else under the claim was ever asked of it.
    assert_eq!(up.hits("/@team%2fghost"), 0);
    assert_eq!(up.total_hits(), up.hits("/-/v1/search"), "only searches reached the upstream");
}
