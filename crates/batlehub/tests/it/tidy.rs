//! The architecture invariants of ARCHITECTURE.md, checked on the source.
//! (`unwrap`/`expect` outside tests are clippy's to refuse: `.ci/run` runs
//! clippy with warnings denied, and the workspace warns on both.)

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    crate::support::files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "rs")).collect()
}

/// Code outside `#[cfg(test)]` modules and separate `tests.rs` files.
fn production_code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).expect("read");
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(src()).unwrap_or(p).display().to_string()
}

#[test]
fn only_upstream_opens_outbound_connections() {
    for f in rust_files(&src()) {
        let r = rel(&f);
        if r.starts_with("upstream") {
            continue;
        }
        let code = production_code(&f);
        for needle in ["reqwest::Client::builder", "reqwest::get(", "TcpStream::connect", ".send().await"] {
            assert!(!code.contains(needle), "{r} uses `{needle}`: only upstream/ may open outbound connections");
        }
    }
}

#[test]
fn only_the_catalog_holds_sql() {
    for f in rust_files(&src()) {
        let r = rel(&f);
        if r.starts_with("catalog") {
            continue;
        }
        let code = production_code(&f);
        for needle in ["sqlx::query", "SELECT ", "INSERT INTO", "DELETE FROM", "UPDATE "] {
            assert!(!code.contains(needle), "{r} contains `{needle}`: only catalog/ may hold SQL");
        }
    }
}

#[test]
fn ecosystems_never_import_each_other_and_shared_code_knows_none() {
    let eco_dir = src().join("ecosystems");
    let ecosystems: Vec<String> = std::fs::read_dir(&eco_dir)
        .expect("ecosystems")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(ecosystems.contains(&"npm".to_string()));
    for eco in &ecosystems {
        for f in rust_files(&eco_dir.join(eco)) {
            let code = production_code(&f);
            for other in ecosystems.iter().filter(|o| *o != eco) {
                assert!(!code.contains(&format!("ecosystems::{other}")), "{} imports ecosystem {other}", rel(&f));
            }
        }
    }
    // The shared machinery names no ecosystem; the JSON API and the web UI
    // reach ecosystems only through `ecosystems`' dispatch functions.
    let shared_files =
        ["setup.rs", "multipart.rs", "http.rs", "router.rs", "app.rs", "kinds.rs"].map(|f| src().join(f));
    for dir in
        ["access", "rules", "blobs", "catalog", "config", "upstream", "registry", "identity", "serve", "api", "ui"]
    {
        for f in rust_files(&src().join(dir)).into_iter().chain(shared_files.iter().cloned()) {
            let code = production_code(&f);
            for eco in &ecosystems {
                assert!(!code.contains(&format!("ecosystems::{eco}")), "{} (shared) imports ecosystem {eco}", rel(&f));
            }
        }
    }
}

#[test]
fn access_and_rules_are_pure() {
    for f in rust_files(&src().join("access")).into_iter().chain(rust_files(&src().join("rules"))) {
        let code = production_code(&f);
        for needle in ["async fn", "tokio::", "sqlx", "std::fs", "reqwest", "now_ms", "SystemTime"] {
            assert!(!code.contains(needle), "{} uses `{needle}`: access/ and rules/ must stay pure", rel(&f));
        }
    }
}

#[test]
fn ui_renders_through_escaping_templates_only() {
    // Every page is built with maud's `html!`, which escapes what it
    // interpolates; `PreEscaped` would bypass that.
    for f in rust_files(&src().join("ui")) {
        let code = production_code(&f);
        assert!(!code.contains("PreEscaped"), "{} renders unescaped HTML", rel(&f));
        assert!(
            !code.contains("text/html") || rel(&f) == "ui/mod.rs",
            "{} builds HTML responses outside the layout",
            rel(&f)
        );
    }
}

/// The layers, bottom to top: a module may import only modules of a lower
/// layer (and itself). A strict order also means there is no import circle.
const LAYERS: &[&[&str]] = &[
    &["kinds", "access", "tls", "rules"],
    &["config"],
    &["catalog"],
    &["blobs"],
    &["error", "setup"],
    &["upstream"],
    &["identity", "http", "multipart"],
    &["registry"],
    &["app"],
    &["serve"],
    &["ecosystems"],
    &["api", "ops"],
    &["ui"],
    &["router"],
    &["cli"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Production code without comments (so prose naming a module is no import).
fn code_only(text: &str) -> String {
    text.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

/// The top-level modules `code` names through `crate::` paths, `use crate::{a, b::c}` groups included.
fn crate_imports(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (c == ',' && depth == 1) {
                    out.push(item.trim().split("::").next().unwrap_or("").trim().to_string());
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            out.push(rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect());
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out.sort();
    out.dedup();
    out
}

/// Every import of `code` (a file of module `module`) that breaks the layers.
fn layering_violations(module: &str, code: &str) -> Vec<String> {
    let Some(own) = layer(module) else { return vec![format!("module `{module}` is in no layer of LAYERS")] };
    crate_imports(&code_only(code))
        .into_iter()
        .filter(|m| m != module)
        .filter_map(|m| match layer(&m) {
            None => Some(format!("imports `{m}`, which is in no layer")),
            Some(l) if l >= own => Some(format!("imports `{m}` (layer {l}) from layer {own}")),
            Some(_) => None,
        })
        .collect()
}

#[test]
fn modules_import_only_lower_layers() {
    let mut failures = Vec::new();
    for f in rust_files(&src()) {
        let r = rel(&f);
        let module = r.split('/').next().unwrap_or("").trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        for v in layering_violations(&module, &production_code(&f)) {
            failures.push(format!("{r}: {v}"));
        }
    }
    assert!(failures.is_empty(), "layering broken:\n{}", failures.join("\n"));
}

#[test]
fn the_layering_check_catches_an_upward_import() {
    assert_eq!(layering_violations("registry", "use crate::app::App;").len(), 1);
    assert_eq!(layering_violations("catalog", "use crate::{access::Role, ecosystems::Kind};").len(), 1);
    assert_eq!(layering_violations("upstream", "fn f() { crate::serve::drive(); }").len(), 1);
    assert!(layering_violations("serve", "use crate::{app::App, registry::{self, Registry}};").is_empty());
    assert!(layering_violations("registry", "// crate::app in a comment is prose").is_empty());
    assert_eq!(layering_violations("identity", "use crate::http::x;").len(), 1, "same layer, other module");
}

#[test]
fn only_the_declaration_lists_the_ecosystems() {
    // Adding an ecosystem is a folder and a line in kinds.rs: nothing else
    // names a registry type's variant, and every folder is declared.
    let kinds = std::fs::read_to_string(src().join("kinds.rs")).expect("kinds.rs");
    let declaration = &kinds[kinds.find("macro_rules! for_each_ecosystem").expect("the declaration")..];
    let declaration = &declaration[..declaration.find("pub(crate) use").expect("its end")];
    for f in rust_files(&src()) {
        if rel(&f) == "kinds.rs" {
            continue;
        }
        let code = code_only(&production_code(&f));
        for k in batlehub::kinds::Kind::ALL {
            let variant = format!("Kind::{k:?}");
            assert!(!code.contains(&variant), "{} names `{variant}`: dispatch by Kind is generated", rel(&f));
        }
    }
    let folders: Vec<String> = std::fs::read_dir(src().join("ecosystems"))
        .expect("ecosystems")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for folder in &folders {
        assert!(declaration.contains(&format!("{folder} =>")), "ecosystems/{folder} is not declared in kinds.rs");
        for file in ["mod.rs", "op.rs", "names.rs", "setup.rs"] {
            assert!(
                src().join("ecosystems").join(folder).join(file).is_file(),
                "ecosystems/{folder} lacks {file} of the folder template"
            );
        }
    }
    for k in batlehub::kinds::Kind::ALL {
        assert!(folders.iter().any(|f| f == k.folder()), "{k} is declared but ecosystems/{} is missing", k.folder());
    }
}

/// Package writes re-run the caller's write check inside their transaction
/// (`Writable::check`): the catalog's allow-everyone check is for the
/// server's own housekeeping, never a request's write.
#[test]
fn request_writes_carry_the_callers_check() {
    let allowed = ["catalog/packages.rs", "ecosystems/maven/write.rs"];
    for f in rust_files(&src()) {
        let r = rel(&f);
        if allowed.contains(&r.as_str()) {
            continue;
        }
        assert!(!production_code(&f).contains("ANY_WRITER"), "{r} writes a package without the caller's check");
    }
}
