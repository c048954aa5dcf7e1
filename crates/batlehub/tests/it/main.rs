#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The one integration test binary: in-process HTTP tests against the real
//! router over temporary SQLite files and blob folders, with fake upstreams on
//! 127.0.0.1, the binary itself, the real clients (npm, pnpm, yarn, cargo, pip,
//! uv, twine, poetry) and headless Chromium. The conformance table, the access
//! matrix and the bad-input suite run on every ecosystem.

mod support;

mod access_matrix;
mod api;
mod auth;
mod bad_input;
mod blob_gc;
mod blob_store;
mod cargo;
mod cargo_client;
mod cli;
mod clients;
mod composer;
mod composer_client;
mod conda;
mod conda_client;
mod conformance;
mod contract;
mod crash;
mod csrf;
mod fuzz_corpus;
mod go;
mod go_client;
mod identity_providers;
mod limits;
mod maven;
mod maven_client;
mod npm_hybrid;
mod npm_local;
mod npm_proxy;
mod nuget;
mod nuget_client;
mod ops;
mod pypi;
mod pypi_clients;
mod replicas;
mod rubygems;
mod rubygems_client;
mod rules;
mod terraform;
mod terraform_client;
mod tidy;
mod tls;
mod token_lineage;
mod ui;
mod ui_browser;
mod views;
mod vsx;
mod vsx_client;
