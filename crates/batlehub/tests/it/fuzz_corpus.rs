//! Replays every seed and saved input of the fuzz corpora (`fuzz/corpus/<target>/`)
//! through the fuzz targets' own code, so parser panics found by fuzzing stay
//! fixed under a plain `cargo test`. Long fuzzing runs with nightly and
//! cargo-fuzz: `fuzz/run.sh`.

use std::path::{Path, PathBuf};

/// The targets' bodies: the very file the fuzz targets call.
#[path = "../../../../fuzz/src/lib.rs"]
mod targets;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus");

/// Run `target` on every file of its corpus, in name order.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(CORPUS).join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())).path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{} holds {} files; a corpus needs at least 3", dir.display(), files.len());
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        // A panic fails the test; the message names the input to reproduce
        // with `cargo +nightly fuzz run <target> <file>`.
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            panic!("{target} panicked on {}: {}", path.display(), message(&*panic));
        }
    }
}

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

#[test]
fn npm_publish_corpus() {
    replay("npm_publish", targets::npm_publish);
}

#[test]
fn op_corpus() {
    replay("op", targets::op);
}

#[test]
fn npm_name_corpus() {
    replay("npm_name", targets::npm_name);
}

#[test]
fn config_corpus() {
    replay("config", targets::config);
}

#[test]
fn upstream_packument_corpus() {
    replay("upstream_packument", targets::upstream_packument);
}

#[test]
fn osv_record_corpus() {
    replay("osv_record", targets::osv_record);
}

#[test]
fn sri_corpus() {
    replay("sri", targets::sri);
}

#[test]
fn cargo_publish_corpus() {
    replay("cargo_publish", targets::cargo_publish);
}

#[test]
fn pypi_dist_corpus() {
    replay("pypi_dist", targets::pypi_dist);
}

#[test]
fn pypi_simple_corpus() {
    replay("pypi_simple", targets::pypi_simple);
}

#[test]
fn go_modzip_corpus() {
    replay("go_modzip", targets::go_modzip);
}

#[test]
fn go_names_corpus() {
    replay("go_names", targets::go_names);
}

#[test]
fn maven_pom_corpus() {
    replay("maven_pom", targets::maven_pom);
}

#[test]
fn composer_archive_corpus() {
    replay("composer_archive", targets::composer_archive);
}

#[test]
fn gem_spec_corpus() {
    replay("gem_spec", targets::gem_spec);
}

#[test]
fn gem_marshal_corpus() {
    replay("gem_marshal", targets::gem_marshal);
}

#[test]
fn nuget_nupkg_corpus() {
    replay("nuget_nupkg", targets::nuget_nupkg);
}

#[test]
fn nuget_documents_corpus() {
    replay("nuget_documents", targets::nuget_documents);
}

#[test]
fn conda_package_corpus() {
    replay("conda_package", targets::conda_package);
}

#[test]
fn conda_documents_corpus() {
    replay("conda_documents", targets::conda_documents);
}

#[test]
fn vsx_vsix_corpus() {
    replay("vsx_vsix", targets::vsx_vsix);
}

#[test]
fn vsx_documents_corpus() {
    replay("vsx_documents", targets::vsx_documents);
}

#[test]
fn terraform_archive_corpus() {
    replay("terraform_archive", targets::terraform_archive);
}

#[test]
fn terraform_documents_corpus() {
    replay("terraform_documents", targets::terraform_documents);
}
