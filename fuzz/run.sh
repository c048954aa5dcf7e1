#!/usr/bin/env bash
# Long fuzzing of BatleHub's parsers of untrusted input.
#
#   fuzz/run.sh                          # every target, 60 s each
#   SECONDS_PER_TARGET=600 fuzz/run.sh   # longer
#   fuzz/run.sh op config                # only these targets
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Runs `cargo +nightly fuzz run <target> -- -max_total_time=N` in fuzz/ for each
# target; new interesting inputs land in fuzz/corpus/<target>/ (trim them with
# `cargo +nightly fuzz cmin <target>` before committing a few small ones), a
# crash is saved under fuzz/artifacts/<target>/ and stops the script.
#
# The corpora are also replayed by the ordinary test suite (`cargo test`,
# crates/batlehub/tests/it/fuzz_corpus.rs) through the same functions
# (fuzz/src/lib.rs), so a crashing input added to a corpus stays a regression test.
set -euo pipefail
cd "$(dirname "$0")"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(op npm_publish npm_name config upstream_packument sri cargo_publish pypi_dist pypi_simple go_modzip go_names maven_pom composer_archive gem_spec gem_marshal nuget_nupkg nuget_documents conda_package conda_documents vsx_vsix vsx_documents terraform_archive terraform_documents osv_record)
fi
for t in "${targets[@]}"; do
  echo "== $t"
  cargo +nightly fuzz run "$t" -- -max_total_time="${SECONDS_PER_TARGET:-60}"
done
