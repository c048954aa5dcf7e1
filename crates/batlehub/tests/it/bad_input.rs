//! Bad input on every ecosystem: every bad publish answers its 4xx in the
//! client's error shape and leaves nothing half-written (no package row, no
//! blob, no temporary file). Bad paths are in the conformance table.

use crate::support::builder::Reg;
use crate::support::fixture::{BAD_INPUT_LIMIT, Fixture};
use crate::support::{ALICE, TestServer, client, files_under, stored_blobs};

async fn bad_publishes_are_4xx_and_leave_nothing<F: Fixture>() {
    let limits = format!("[limits]\nmax_artifact_size_bytes = {BAD_INPUT_LIMIT}\n");
    let s = TestServer::with(&[Reg::local(F::TYPE, "internal")], &limits).await;
    let c = client();
    let reg = s.reg("internal");
    let cases = F::bad_publishes("bad");
    assert!(cases.len() >= 5, "{}: too few bad inputs", F::TYPE);
    for case in cases {
        let (what, status) = (case.what, case.status);
        let reply = case.send(&c, &reg, ALICE).await;
        assert_eq!(reply.status, status, "{}: {what}: {}", F::TYPE, reply.body);
        assert!(
            F::error_message(&reply).is_some(),
            "{}: {what}: not the client's error shape: {}",
            F::TYPE,
            reply.body
        );
    }
    assert!(s.app.catalog.search_packages(&["internal".into()], "", 10).await.expect("db").is_empty(), "{}", F::TYPE);
    assert!(stored_blobs(&s).await.is_empty(), "{}: no blob without its row", F::TYPE);
    assert!(files_under(&s.data.join("storage/tmp")).is_empty(), "{}: no temporary file left", F::TYPE);
    // The same registry still takes a good publish.
    let reply = F::publish(&c, &reg, Some(ALICE), &F::name("bad", false), "1.0.0").await;
    assert!((200..300).contains(&reply.status), "{}: {}", F::TYPE, reply.body);
}

/// The suite on every ecosystem: one line per ecosystem.
macro_rules! bad_input {
    ($($eco:ident => $fixture:ty;)*) => {
        $(
            #[tokio::test]
            async fn $eco() {
                bad_publishes_are_4xx_and_leave_nothing::<$fixture>().await;
            }
        )*
    };
}

bad_input! {
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

#[tokio::test]
async fn unknown_registries_are_404_in_the_api_shape() {
    let s = TestServer::with(&[Reg::local("npm", "internal")], "").await;
    let c = client();
    let r = c.get(format!("{}/proxy/nosuch/pkg", s.url)).send().await.expect("get");
    assert_eq!(r.status(), 404);
    let err = r.json::<serde_json::Value>().await.expect("json");
    assert_eq!(err["error"], "Not Found");
    assert!(err["message"].as_str().unwrap_or("").contains("nosuch"), "{err}");
    // An encoded registry name is not another spelling of a registry.
    let r = c.get(format!("{}/proxy/intern%61l/pkg", s.url)).bearer_auth(ALICE).send().await.expect("get");
    assert_eq!(r.status(), 404);
    // Publishing a traversal name.
    let reply = crate::support::npm::NpmFixture::publish(&c, &s.reg("internal"), Some(ALICE), ".hidden", "1.0.0").await;
    assert_eq!(reply.status, 400);
}
