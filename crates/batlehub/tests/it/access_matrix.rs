//! The whole access matrix on the wire, on every ecosystem: identities
//! (anonymous, user without group, user in the claiming group, admin) ×
//! visibility (public, internal, team) × namespace claim (claimed, free) ×
//! registry mode (local, hybrid) × operation (read listing, read artifact,
//! search, publish, change visibility). Expectations come from the rules,
//! written out here independently of the server's code; every mismatch is
//! reported at once.

use serde_json::json;

use crate::support::builder::Reg;
use crate::support::fixture::{Fixture, segment};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client};

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

/// (stem, visibility, claimed by oidc:myorg)
const PACKAGES: [(&str, &str, bool); 5] = [
    ("pub", "public", true),
    ("int", "internal", true),
    ("tm", "team", true),
    ("pub", "public", false),
    ("int", "internal", false),
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

async fn no_combination_leaks_or_lets_a_write_through<F: Fixture>() {
    let up = F::upstream().await;
    // The upstream has a name under the claim: it must never be served.
    let ghost = F::name("ghost", true);
    F::seed(&up, &ghost, "1.0.0");
    let s = TestServer::with(
        &[Reg::local(F::TYPE, "local").open_read(), Reg::hybrid(F::TYPE, "hybrid", &F::upstream_url(&up)).open_read()],
        "",
    )
    .await;
    let c = client();
    let mut failures: Vec<String> = Vec::new();
    let t = F::TYPE;
    for reg_name in ["local", "hybrid"] {
        s.app.catalog.add_claim(reg_name, F::CLAIM, "oidc:myorg", None).await.expect("claim");
        let reg = s.reg(reg_name);
        for (stem, visibility, claimed) in PACKAGES {
            let name = F::name(stem, claimed);
            let reply = F::publish(&c, &reg, Some(ADMIN), &name, "1.0.0").await;
            assert!((200..300).contains(&reply.status), "{t} {name}: {}", reply.body);
            let key = batlehub::ecosystems::normalize_name(batlehub::kinds::Kind::parse(t).expect("kind"), &name)
                .expect("valid name");
            let p = s.app.catalog.get_package(reg_name, &key).await.expect("db").expect("row");
            s.app
                .catalog
                .set_visibility(
                    &p.id,
                    batlehub::access::Visibility::parse(visibility).expect("vis"),
                    batlehub::catalog::ANY_WRITER,
                )
                .await
                .expect("set");
        }
        // The first publish of an unclaimed name asks the upstream whether
        // it serves the name (so that nobody takes one over); a claimed
        // name is never asked.
        let asked = up.paths();
        let claimed_asked: Vec<&String> = asked
            .iter()
            .filter(|p| {
                PACKAGES
                    .iter()
                    .any(|(stem, _, claimed)| *claimed && p.contains(&F::name(stem, true).replace('/', "%2f")))
            })
            .collect();
        assert!(claimed_asked.is_empty(), "{t}: a claimed name was asked upstream at publish: {claimed_asked:?}");
        let asked_at_publish: std::collections::HashMap<String, usize> =
            asked.iter().map(|p| (p.clone(), up.hits(p))).collect();
        for who in WHO {
            let get = |path: String| {
                let mut r = c.get(format!("{reg}{path}"));
                if let Some(t) = who.token() {
                    r = r.bearer_auth(t);
                }
                r.send()
            };
            // Search: exactly what the caller may see (where the protocol has one).
            if F::SEARCH {
                let names = F::search(&c, &reg, who.token()).await;
                let mut expected: Vec<String> = PACKAGES
                    .iter()
                    .filter(|(_, v, _)| sees(who, v))
                    .map(|(s, _, claimed)| F::name(s, *claimed))
                    .collect();
                expected.sort();
                if names != expected {
                    failures.push(format!("{t} {reg_name} {who:?} search: got {names:?}, expected {expected:?}"));
                }
            }
            for (i, (stem, visibility, claimed)) in PACKAGES.into_iter().enumerate() {
                let name = F::name(stem, claimed);
                let visible = sees(who, visibility);
                let read = if visible { 200 } else { hidden_status(who) };
                let got = get(F::listing(&name)).await.expect("get").status().as_u16();
                if got != read {
                    failures.push(format!(
                        "{t} {reg_name} {who:?} {name} ({visibility}) listing: got {got}, expected {read}"
                    ));
                }
                let got = get(F::artifact(&name, "1.0.0")).await.expect("get").status().as_u16();
                if got != read {
                    failures.push(format!(
                        "{t} {reg_name} {who:?} {name} ({visibility}) artifact: got {got}, expected {read}"
                    ));
                }
                // Publish a new version: members of the claim's group and
                // admins under a claim; owners (admin here) elsewhere.
                let write = match who {
                    Who::Anonymous => 401,
                    Who::Admin => 200,
                    Who::Alice if claimed => 200,
                    _ => 403,
                };
                let version = format!("1.{i}.{}", WHO.iter().position(|w| *w == who).unwrap_or(0) + 1);
                let reply = F::publish(&c, &reg, who.token(), &name, &version).await;
                let got = if (200..300).contains(&reply.status) { 200 } else { reply.status };
                if got != write {
                    failures.push(format!(
                        "{t} {reg_name} {who:?} {name} ({visibility}) publish: got {}, expected {write}: {}",
                        reply.status, reply.body
                    ));
                }
                if got == 403 && reply.body.contains("own") && claimed {
                    failures.push(format!(
                        "{t} {reg_name} {who:?} {name}: a refused write under a claim must not reveal the package"
                    ));
                }
                if got != 200 && F::error_message(&reply).is_none() {
                    failures.push(format!(
                        "{t} {reg_name} {who:?} {name}: the refusal is not in the client's shape: {}",
                        reply.body
                    ));
                }
                // Change visibility (back to what it is: the state stays put).
                let vis_url = format!("{}/api/v1/registries/{reg_name}/packages/{}/visibility", s.url, segment(&name));
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
                        "{t} {reg_name} {who:?} {name} ({visibility}) visibility: got {got}, expected {allowed}"
                    ));
                }
            }
            // A claimed name that only the upstream has: never served, in any mode.
            for path in [F::listing(&ghost), F::artifact(&ghost, "1.0.0")] {
                let got = get(path.clone()).await.expect("get").status().as_u16();
                if got != 404 {
                    failures.push(format!("{t} {reg_name} {who:?} {path}: got {got}, expected 404"));
                }
            }
        }
        // Reading: nothing under the claim, and no local name, was asked of
        // the upstream; only forwarded searches may reach it.
        let read_asked: Vec<String> = up
            .paths()
            .into_iter()
            .filter(|p| !F::is_upstream_search(p) && up.hits(p) > asked_at_publish.get(p).copied().unwrap_or(0))
            .collect();
        assert!(read_asked.is_empty(), "{t} {reg_name}: the upstream was asked for {read_asked:?}");
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// The matrix on every ecosystem: one line per ecosystem.
macro_rules! access_matrix {
    ($($eco:ident => $fixture:ty;)*) => {
        $(
            #[tokio::test]
            async fn $eco() {
                no_combination_leaks_or_lets_a_write_through::<$fixture>().await;
            }
        )*
    };
}

access_matrix! {
    npm => crate::support::npm::NpmFixture;
    cargo => crate::support::cargo::CargoFixture;
    pypi => crate::support::pypi::PypiFixture;
    go => crate::support::go::GoFixture;
    maven => crate::support::maven::MavenFixture;
    composer => crate::support::composer::ComposerFixture;
    rubygems => crate::support::rubygems::RubygemsFixture;
    nuget => crate::support::nuget::NugetFixture;
    conda => crate::support::conda::CondaFixture;
    openvsx => crate::support::vsx::OpenVsxFixture;
    marketplace => crate::support::vsx::MarketplaceFixture;
    terraform => crate::support::terraform::TerraformFixture;
}
