//! NuGet v3 in process: the user guide's URLs and curl checks, push (multipart,
//! chunked, every credential form) and 409, version normalisation and
//! case-insensitive ids, registration pages (inlined and paged), search and
//! autocomplete, unlist and relist, the proxy of a fake v3 feed discovered
//! through its own service index (rewritten documents, verified or
//! content-checked packages, paged registrations, forwarded search without
//! our names), a BatleHub upstream, and the Upload card.

use serde_json::Value;

use crate::support::builder::Reg;
use crate::support::fake::Behaviour;
use crate::support::nuget::{FakeNuget, nupkg, push, push_form};
use crate::support::{ADMIN, ALICE, BOB, TestServer, client, public_upstream};

async fn get_json(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = c.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_guide_curl_checks_push_and_409() {
    let rbac = "anonymous = [\"releases:read\"]\nuser = [\"releases:read\", \"releases:write\"]\n";
    let s =
        TestServer::with(&[Reg::local("nuget", "internal-nuget").rbac(rbac), Reg::local("nuget", "closed")], "").await;
    let c = client();
    let reg = s.reg("internal-nuget");
    // The service index answers anyone, even on a registry that reads nothing anonymously.
    for r in ["internal-nuget", "closed"] {
        let (status, index) = get_json(&c, &format!("{}/nuget/v3/index.json", s.reg(r)), None).await;
        assert_eq!((status, index["version"].as_str()), (200, Some("3.0.0")), "{index}");
        let types: Vec<&str> =
            index["resources"].as_array().expect("resources").iter().filter_map(|r| r["@type"].as_str()).collect();
        for t in [
            "PackageBaseAddress/3.0.0",
            "RegistrationsBaseUrl",
            "RegistrationsBaseUrl/3.0.0-rc",
            "RegistrationsBaseUrl/3.0.0-beta",
            "RegistrationsBaseUrl/3.4.0",
            "RegistrationsBaseUrl/3.6.0",
            "RegistrationsBaseUrl/Versioned",
            "SearchQueryService",
            "SearchQueryService/3.0.0-rc",
            "SearchQueryService/3.0.0-beta",
            "SearchQueryService/3.5.0",
            "SearchAutocompleteService",
            "PackagePublish/2.0.0",
            "SymbolPackagePublish/4.9.0",
        ] {
            assert!(types.contains(&t), "{t} missing: {types:?}");
        }
        let publish = index["resources"]
            .as_array()
            .expect("r")
            .iter()
            .find(|r| r["@type"] == "PackagePublish/2.0.0")
            .expect("publish");
        assert_eq!(publish["@id"], format!("{}/nuget/v2/package", s.reg(r)));
    }
    // Pushed chunked, with no Content-Length, as NuGet.exe 5.8 sends it.
    let bytes = nupkg("MyLib", "1.0.0", "");
    let form = push_form(bytes.clone());
    let boundary = form.boundary().to_string();
    let stream = form.into_stream();
    let r = c
        .put(format!("{reg}/nuget/v2/package/"))
        .header("X-NuGet-ApiKey", ALICE)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("push");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    // The guide's check, exactly.
    let flat =
        c.get(format!("{reg}/nuget/v3/flat/mylib/index.json")).send().await.expect("flat").text().await.expect("body");
    assert_eq!(flat, r#"{"versions":["1.0.0"]}"#);
    let r = c.get(format!("{reg}/nuget/v3/flat/MYLIB/1.0.0/mylib.1.0.0.nupkg")).send().await.expect("nupkg");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &bytes[..]);
    let nuspec = c.get(format!("{reg}/nuget/v3/flat/mylib/1.0.0/mylib.nuspec")).send().await.expect("nuspec");
    assert_eq!(nuspec.headers()["content-type"], "application/xml");
    assert!(nuspec.text().await.expect("body").contains("<id>MyLib</id>"));
    // The same version, in any spelling NuGet treats as one: 409, with the reason.
    for (id, v) in [("MyLib", "1.0.0"), ("mylib", "1.0"), ("MYLIB", "1.0.0.0"), ("MyLib", "01.0.0+build.7")] {
        let r = push(&c, &reg, Some(ALICE), nupkg(id, v, "")).await;
        assert_eq!(r.status, 409, "{id} {v}: {}", r.body);
        assert!(r.body.contains("already exists"), "{}", r.body);
    }
    // Every credential form; a raw body too.
    let r = c
        .put(format!("{reg}/nuget/v2/package"))
        .bearer_auth(ALICE)
        .multipart(push_form(nupkg("MyLib", "1.1", "")))
        .send()
        .await;
    assert_eq!(r.expect("push").status(), 201);
    let r = c
        .put(format!("{reg}/nuget/v2/package"))
        .basic_auth("__token__", Some(ALICE))
        .header("content-type", "application/octet-stream")
        .body(nupkg("MyLib", "1.2.0-Beta", ""))
        .send()
        .await;
    assert_eq!(r.expect("push").status(), 201);
    let flat =
        c.get(format!("{reg}/nuget/v3/flat/mylib/index.json")).send().await.expect("flat").text().await.expect("body");
    assert_eq!(flat, r#"{"versions":["1.0.0","1.1.0","1.2.0-beta"]}"#);
    // The guide's troubleshooting: no token 401 (challenged), no releases:write 403.
    let r = push(&c, &reg, None, nupkg("MyLib", "3.0.0", "")).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.headers.contains_key("www-authenticate"));
    let r = push(&c, &reg, Some("bh_not_a_token"), nupkg("MyLib", "3.0.0", "")).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let readonly = TestServer::with(&[Reg::local("nuget", "ro").rbac("user = [\"releases:read\"]\n")], "").await;
    let r = push(&c, &readonly.reg("ro"), Some(ALICE), nupkg("MyLib", "3.0.0", "")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Bob is not an owner.
    let r = push(&c, &reg, Some(BOB), nupkg("MyLib", "3.0.0", "")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The closed registry reads nothing anonymously: challenged, so NuGet sends its credentials.
    let r = c.get(format!("{}/nuget/v3/flat/mylib/index.json", s.reg("closed"))).send().await.expect("get");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn registrations_search_unlist_and_relist() {
    let s = TestServer::with(&[Reg::local("nuget", "loc").open_read()], "").await;
    let c = client();
    let reg = s.reg("loc");
    let deps = "<dependencies><group targetFramework=\"net6.0\"><dependency id=\"Other.Lib\" version=\"[2.0.0, )\" /></group></dependencies><tags>web json</tags>";
    for (v, extra) in [("1.0.0", deps), ("1.1.0-beta", ""), ("1.2.0-rc.1", ""), ("1.2.0", "")] {
        let r = push(&c, &reg, Some(ALICE), nupkg("Acme.Small", v, extra)).await;
        assert_eq!(r.status, 201, "{v}: {}", r.body);
    }
    // A small package is inlined in one page.
    let (status, index) = get_json(&c, &format!("{reg}/nuget/v3/registration/ACME.SMALL/index.json"), None).await;
    assert_eq!(status, 200, "{index}");
    assert_eq!(index["count"], 1);
    let page = &index["items"][0];
    assert_eq!(
        (page["lower"].as_str(), page["upper"].as_str(), page["count"].as_u64()),
        (Some("1.0.0"), Some("1.2.0"), Some(4))
    );
    let first = &page["items"][0];
    assert_eq!(first["packageContent"], format!("{reg}/nuget/v3/flat/acme.small/1.0.0/acme.small.1.0.0.nupkg"));
    let entry = &first["catalogEntry"];
    assert_eq!(
        (entry["id"].as_str(), entry["version"].as_str(), entry["listed"].as_bool()),
        (Some("Acme.Small"), Some("1.0.0"), Some(true))
    );
    assert!(entry["published"].as_str().is_some_and(|p| p.starts_with("20")), "{entry}");
    assert_eq!(entry["tags"], serde_json::json!(["web", "json"]));
    assert_eq!(entry["packageHashAlgorithm"], "SHA512");
    let dep = &entry["dependencyGroups"][0];
    assert_eq!(dep["targetFramework"], "net6.0");
    assert_eq!(dep["dependencies"][0]["id"], "Other.Lib");
    assert_eq!(dep["dependencies"][0]["range"], "[2.0.0, )");
    assert_eq!(dep["dependencies"][0]["registration"], format!("{reg}/nuget/v3/registration/other.lib/index.json"));
    let (status, leaf) = get_json(&c, &format!("{reg}/nuget/v3/registration/acme.small/1.2.0.json"), None).await;
    assert_eq!((status, leaf["listed"].as_bool()), (200, Some(true)), "{leaf}");

    // A large one is paged; each page is fetched by its @id.
    for i in 0..70 {
        let r = push(&c, &reg, Some(ALICE), nupkg("Acme.Big", &format!("1.0.{i}"), "")).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let (_, index) = get_json(&c, &format!("{reg}/nuget/v3/registration/acme.big/index.json"), None).await;
    assert_eq!(index["count"], 2, "{index}");
    let pages = index["items"].as_array().expect("pages");
    assert!(pages.iter().all(|p| p.get("items").is_none()), "a paged registration inlines nothing");
    assert_eq!((pages[0]["lower"].as_str(), pages[0]["upper"].as_str()), (Some("1.0.0"), Some("1.0.63")));
    assert_eq!(
        (pages[1]["lower"].as_str(), pages[1]["upper"].as_str(), pages[1]["count"].as_u64()),
        (Some("1.0.64"), Some("1.0.69"), Some(6))
    );
    let mut seen = 0;
    for p in pages {
        let (status, page) = get_json(&c, p["@id"].as_str().expect("@id"), None).await;
        assert_eq!(status, 200, "{page}");
        seen += page["items"].as_array().map(Vec::len).unwrap_or(0);
    }
    assert_eq!(seen, 70);
    let (status, _) = get_json(&c, &format!("{reg}/nuget/v3/registration/acme.big/page/1.0.1/1.0.5.json"), None).await;
    assert_eq!(status, 404, "no such page");

    // Search: q, skip and take, prerelease, semVerLevel.
    let search = |q: &str| {
        let c = c.clone();
        let url = format!("{reg}/nuget/v3/query?{q}");
        async move { get_json(&c, &url, None).await.1 }
    };
    let all = search("q=acme&prerelease=true&semVerLevel=2.0.0").await;
    assert_eq!(all["totalHits"], 2);
    assert_eq!(ids(&all), vec!["Acme.Big", "Acme.Small"]);
    assert_eq!(ids(&search("q=acme&skip=1&take=1").await), vec!["Acme.Small"]);
    assert_eq!(ids(&search("q=acme&skip=0&take=1").await), vec!["Acme.Big"]);
    assert_eq!(ids(&search("q=small").await), vec!["Acme.Small"]);
    let versions = |v: &Value| -> Vec<String> {
        v["data"][0]["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .filter_map(|x| x["version"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(versions(&search("q=small").await), vec!["1.0.0", "1.2.0"]);
    assert_eq!(versions(&search("q=small&prerelease=true").await), vec!["1.0.0", "1.1.0-beta", "1.2.0"]);
    assert_eq!(
        versions(&search("q=small&prerelease=true&semVerLevel=2.0.0").await),
        vec!["1.0.0", "1.1.0-beta", "1.2.0-rc.1", "1.2.0"]
    );
    let (_, ac) = get_json(&c, &format!("{reg}/nuget/v3/autocomplete?q=acme.s"), None).await;
    assert_eq!(ac["data"], serde_json::json!(["Acme.Small"]));
    let (_, ac) = get_json(&c, &format!("{reg}/nuget/v3/autocomplete?id=acme.small&prerelease=true"), None).await;
    assert_eq!(ac["data"], serde_json::json!(["1.0.0", "1.1.0-beta", "1.2.0"]));

    // Unlist (the guide's curl): hidden from search, listed false, still in
    // the flat container and downloadable; then listed again.
    let r = c.delete(format!("{reg}/nuget/v2/package/acme.small/1.2.0")).bearer_auth(BOB).send().await.expect("delete");
    assert_eq!(r.status(), 403, "not an owner");
    let r =
        c.delete(format!("{reg}/nuget/v2/package/acme.small/1.2.0")).bearer_auth(ALICE).send().await.expect("delete");
    assert_eq!(r.status(), 200);
    let r =
        c.delete(format!("{reg}/nuget/v2/package/acme.small/9.9.9")).bearer_auth(ALICE).send().await.expect("delete");
    assert_eq!(r.status(), 404);
    let found = search("q=small").await;
    assert_eq!((found["data"][0]["version"].as_str(), versions(&found)), (Some("1.0.0"), vec!["1.0.0".to_string()]));
    let (_, index) = get_json(&c, &format!("{reg}/nuget/v3/registration/acme.small/index.json"), None).await;
    let last = &index["items"][0]["items"][3]["catalogEntry"];
    assert_eq!(
        (last["version"].as_str(), last["listed"].as_bool(), last["published"].as_str()),
        (Some("1.2.0"), Some(false), Some("1900-01-01T00:00:00+00:00"))
    );
    let (_, leaf) = get_json(&c, &format!("{reg}/nuget/v3/registration/acme.small/1.2.0.json"), None).await;
    assert_eq!(leaf["listed"], false);
    let flat = c
        .get(format!("{reg}/nuget/v3/flat/acme.small/index.json"))
        .send()
        .await
        .expect("flat")
        .text()
        .await
        .expect("body");
    assert_eq!(flat, r#"{"versions":["1.0.0","1.1.0-beta","1.2.0-rc.1","1.2.0"]}"#);
    let r = c.get(format!("{reg}/nuget/v3/flat/acme.small/1.2.0/acme.small.1.2.0.nupkg")).send().await.expect("get");
    assert_eq!(r.status(), 200, "an unlisted version is still restorable");
    let r = c.post(format!("{reg}/nuget/v2/package/acme.small/1.2.0")).bearer_auth(ALICE).send().await.expect("relist");
    assert_eq!(r.status(), 200);
    assert_eq!(search("q=small").await["data"][0]["version"], "1.2.0");
    // A pushed version is never pushed again, listed or not.
    let r = push(&c, &reg, Some(ALICE), nupkg("Acme.Small", "1.2.0", "")).await;
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn a_proxy_discovers_the_upstream_through_its_service_index() {
    let (up, proto) = FakeNuget::start().await;
    let greeter = nupkg("Up.Greeter", "1.0.0", "");
    up.add_file("Up.Greeter", "1.0.0", "up.greeter.1.0.0.nupkg", greeter.clone());
    up.add_file("Up.Greeter", "2.0.0-beta", "up.greeter.2.0.0-beta.nupkg", nupkg("Up.Greeter", "2.0.0-beta", ""));
    up.add_file("Team.Secret", "1.0.0", "team.secret.1.0.0.nupkg", nupkg("Team.Secret", "1.0.0", ""));
    let index = format!("{}/v3/index.json", up.url);
    let s = TestServer::with(
        &[
            Reg::proxy("nuget", "mirror", &index).open_read(),
            Reg::hybrid("nuget", "hyb", &index).open_read().namespace("team.", "myorg"),
        ],
        "",
    )
    .await;
    let c = client();
    let reg = s.reg("mirror");
    // The flat container, through the upstream's own layout.
    let flat = c.get(format!("{reg}/nuget/v3/flat/UP.GREETER/index.json")).send().await.expect("flat");
    assert_eq!(flat.headers()["x-batlehub-cache"], "miss");
    assert_eq!(flat.text().await.expect("body"), r#"{"versions":["1.0.0","2.0.0-beta"]}"#);
    assert_eq!(up.hits("/v3/index.json"), 1);
    assert_eq!(up.hits("/v3-flatcontainer/up.greeter/index.json"), 1);
    // The registration, every URL in it pointing here.
    let text = c
        .get(format!("{reg}/nuget/v3/registration/up.greeter/index.json"))
        .send()
        .await
        .expect("reg")
        .text()
        .await
        .expect("body");
    assert!(!text.contains(&up.url), "an upstream URL reached the client: {text}");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let leaf = &doc["items"][0]["items"][0];
    assert_eq!(leaf["packageContent"], format!("{reg}/nuget/v3/flat/up.greeter/1.0.0/up.greeter.1.0.0.nupkg"));
    assert_eq!(
        leaf["catalogEntry"]["dependencyGroups"][0]["dependencies"][0]["registration"],
        format!("{reg}/nuget/v3/registration/upstream.dep/index.json")
    );
    // The package, verified against the catalog leaf's hash, then cached.
    let r = c.get(format!("{reg}/nuget/v3/flat/up.greeter/1.0.0/up.greeter.1.0.0.nupkg")).send().await.expect("nupkg");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &greeter[..]);
    assert_eq!(up.hits("/v3/catalog0/data/up.greeter.1.0.0.json"), 1, "the hash was read from the catalog leaf");
    let before = up.total_hits();
    let r = c.get(format!("{reg}/nuget/v3/flat/up.greeter/1.0.0/up.greeter.1.0.0.nupkg")).send().await.expect("nupkg");
    assert_eq!(r.status(), 200);
    assert_eq!(up.total_hits(), before, "a cache hit");
    let nuspec = c.get(format!("{reg}/nuget/v3/flat/up.greeter/1.0.0/up.greeter.nuspec")).send().await.expect("nuspec");
    assert!(nuspec.text().await.expect("body").contains("<id>Up.Greeter</id>"));
    let (status, leaf) = get_json(&c, &format!("{reg}/nuget/v3/registration/up.greeter/2.0.0-beta.json"), None).await;
    assert_eq!(
        (status, leaf["packageContent"].as_str()),
        (200, Some(format!("{reg}/nuget/v3/flat/up.greeter/2.0.0-beta/up.greeter.2.0.0-beta.nupkg").as_str()))
    );

    // Without a hash, the content check stands in: a package that is not
    // the one asked for is refused and not kept.
    up.set_no_digests(true);
    up.add_file("Up.Liar", "1.0.0", "up.liar.1.0.0.nupkg", nupkg("Up.Other", "1.0.0", ""));
    let r = c.get(format!("{reg}/nuget/v3/flat/up.liar/1.0.0/up.liar.1.0.0.nupkg")).send().await.expect("liar");
    assert_eq!(r.status(), 502);
    assert!(r.text().await.expect("body").contains("not the one asked for"));
    up.add_file("Up.Plain", "1.0.0", "up.plain.1.0.0.nupkg", nupkg("Up.Plain", "1.0.0", ""));
    let r = c.get(format!("{reg}/nuget/v3/flat/up.plain/1.0.0/up.plain.1.0.0.nupkg")).send().await.expect("plain");
    assert_eq!(r.status(), 200, "no hash, but the right package");
    up.set_no_digests(false);

    // A paged upstream registration: its page is fetched by us, rewritten.
    proto.set_paged(true);
    let s2 = TestServer::with(&[Reg::proxy("nuget", "paged", &index).open_read()], "").await;
    let (_, paged) =
        get_json(&c, &format!("{}/nuget/v3/registration/up.greeter/index.json", s2.reg("paged")), None).await;
    let page_url = paged["items"][0]["@id"].as_str().expect("page @id").to_string();
    assert_eq!(page_url, format!("{}/nuget/v3/registration/up.greeter/page/1.0.0/2.0.0-beta.json", s2.reg("paged")));
    let text = c.get(&page_url).send().await.expect("page").text().await.expect("body");
    assert!(!text.contains(&up.url), "{text}");
    let page: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");
    let r = c
        .get(format!("{}/nuget/v3/flat/up.greeter/2.0.0-beta/up.greeter.2.0.0-beta.nupkg", s2.reg("paged")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "the hash found through a fetched page");
    proto.set_paged(false);

    // Search forwarded, without the names that are ours (local or claimed).
    let hyb = s.reg("hyb");
    assert_eq!(push(&c, &hyb, Some(ALICE), nupkg("Mine.Pkg", "1.0.0", "")).await.status, 201);
    // (the first push of a name asks the upstream whether it serves it)
    let asked_at_push = up.hits("/v3-flatcontainer/mine.pkg/index.json");
    let (_, found) = get_json(&c, &format!("{hyb}/nuget/v3/query?q=&take=10"), None).await;
    assert_eq!(ids(&found), vec!["Mine.Pkg", "Up.Greeter", "Up.Liar", "Up.Plain"], "{found}");
    assert_eq!(found["data"][1]["registration"], format!("{hyb}/nuget/v3/registration/up.greeter/index.json"));
    assert!(!found.to_string().contains(&up.url), "{found}");
    let (_, ac) = get_json(&c, &format!("{hyb}/nuget/v3/autocomplete?q="), None).await;
    assert!(!ac.to_string().to_ascii_lowercase().contains("team.secret"), "{ac}");
    // The claimed name is never asked upstream; the local one neither.
    for path in ["/nuget/v3/flat/team.secret/index.json", "/nuget/v3/registration/team.secret/index.json"] {
        assert_eq!(c.get(format!("{hyb}{path}")).send().await.expect("get").status(), 404);
    }
    assert_eq!(c.get(format!("{hyb}/nuget/v3/flat/mine.pkg/index.json")).send().await.expect("get").status(), 200);
    assert!(up.paths().iter().all(|p| !p.contains("team.secret")), "{:?}", up.paths());
    assert_eq!(up.hits("/v3-flatcontainer/mine.pkg/index.json"), asked_at_push, "a local name was read upstream");
    // A down upstream: a 502 in NuGet's shape.
    up.set(Behaviour::Fail);
    let r = c.get(format!("{reg}/nuget/v3/flat/up.new/index.json")).send().await.expect("get");
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn a_batlehub_upstream_chain_verifies_with_the_inline_hash() {
    let public = public_upstream("nuget").await;
    let c = client();
    let bytes = nupkg("Chain.Lib", "1.0.0", "");
    assert_eq!(push(&c, &public.reg("public"), Some(ALICE), bytes.clone()).await.status, 201);
    let index = format!("{}/nuget/v3/index.json", public.reg("public"));
    let s = TestServer::with(&[Reg::proxy("nuget", "mirror", &index).open_read()], "").await;
    let r = c
        .get(format!("{}/nuget/v3/flat/chain.lib/1.0.0/chain.lib.1.0.0.nupkg", s.reg("mirror")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), &bytes[..]);
    let (_, doc) = get_json(&c, &format!("{}/nuget/v3/registration/chain.lib/index.json", s.reg("mirror")), None).await;
    assert_eq!(doc["items"][0]["items"][0]["catalogEntry"]["packageHashAlgorithm"], "SHA512");
    assert_eq!(doc["items"][0]["items"][0]["catalogEntry"]["id"], "Chain.Lib");
}

#[tokio::test]
async fn the_upload_card_takes_a_nupkg_and_symbols_follow_their_package() {
    let s = TestServer::with(&[Reg::local("nuget", "loc").open_read()], "").await;
    let (status, page) = crate::support::upload_card(&s, ALICE, "loc", "x.nupkg", b"not a package".to_vec(), &[]).await;
    assert_eq!(status, 400, "{page}");
    let (status, page) =
        crate::support::upload_card(&s, ALICE, "loc", "Carded.1.0.0.nupkg", nupkg("Carded", "1.0.0", ""), &[]).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Published Carded 1.0.0 to loc"), "{page}");
    let c = client();
    let flat = c
        .get(format!("{}/nuget/v3/flat/carded/index.json", s.reg("loc")))
        .send()
        .await
        .expect("flat")
        .text()
        .await
        .expect("b");
    assert_eq!(flat, r#"{"versions":["1.0.0"]}"#);
    let symbols = |id: &str, v: &str| {
        let spec = crate::support::nuget::nuspec(
            id,
            v,
            "<packageTypes><packageType name=\"SymbolsPackage\" /></packageTypes>",
        );
        crate::support::nuget::zip_of(&[(&format!("{id}.nuspec"), spec.as_bytes()), ("lib/a.pdb", b"pdb")])
    };
    let url = format!("{}/nuget/v2/symbolpackage/", s.reg("loc"));
    let send = |bytes: Vec<u8>| c.put(&url).header("X-NuGet-ApiKey", ALICE).multipart(push_form(bytes)).send();
    assert_eq!(send(symbols("Carded", "2.0.0")).await.expect("put").status(), 404, "no such version");
    assert_eq!(send(symbols("Carded", "1.0.0")).await.expect("put").status(), 201);
    assert_eq!(send(symbols("Carded", "1.0.0")).await.expect("put").status(), 409);
    // A symbol package is not a package.
    let r = push(&c, &s.reg("loc"), Some(ADMIN), symbols("Carded", "3.0.0")).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn the_setup_guide_and_the_dashboard_show_nuget() {
    let s = TestServer::with(&[Reg::local("nuget", "internal-nuget")], "").await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = browser
        .post(format!("{}/login", s.url))
        .form(&[("token", ALICE), ("return_to", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let setup = browser.get(format!("{}/setup", s.url)).send().await.expect("setup").text().await.expect("body");
    let index = format!("{}/nuget/v3/index.json", s.reg("internal-nuget"));
    for needle in
        [index.as_str(), "packageSourceCredentials", "dotnet nuget add source", "nuget sources add", "nuget push"]
    {
        assert!(setup.contains(needle), "the Setup Guide lacks {needle}");
    }
    let ns = browser.get(format!("{}/my-namespace", s.url)).send().await.expect("ns").text().await.expect("body");
    assert!(ns.contains("data-accept=\".nupkg\""), "the Upload card takes a .nupkg");
    assert!(ns.contains("id=\"cli-internal-nuget-nuget-exe-push\""), "NuGet is in the CLI instructions");
}
