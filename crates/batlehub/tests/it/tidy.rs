//! The architecture invariants of ARCHITECTURE.md, checked on the source.

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
    let shared_files = ["setup.rs", "multipart.rs", "http.rs", "router.rs"].map(|f| src().join(f));
    for dir in ["access", "blobs", "catalog", "upstream", "registry", "identity", "api", "ui"] {
        for f in rust_files(&src().join(dir)).into_iter().chain(shared_files.iter().cloned()) {
            let code = production_code(&f);
            for eco in &ecosystems {
                assert!(!code.contains(&format!("ecosystems::{eco}")), "{} (shared) imports ecosystem {eco}", rel(&f));
            }
        }
    }
}

#[test]
fn access_is_pure() {
    for f in rust_files(&src().join("access")) {
        let code = production_code(&f);
        for needle in ["async fn", "tokio::", "sqlx", "std::fs", "reqwest"] {
            assert!(!code.contains(needle), "{} uses `{needle}`: access/ must stay pure", rel(&f));
        }
    }
}

#[test]
fn no_unwrap_or_expect_outside_tests() {
    for f in rust_files(&src()) {
        let code = production_code(&f);
        for (i, line) in code.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            assert!(!line.contains(".unwrap()"), "{}:{}: unwrap() outside tests", rel(&f), i + 1);
            assert!(!line.contains(".expect("), "{}:{}: expect() outside tests", rel(&f), i + 1);
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
