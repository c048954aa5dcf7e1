//! BatleHub: one server that stands between developers / CI and the package
//! ecosystems, as a caching proxy, a private registry, or both.
//!
//! See ARCHITECTURE.md at the repository root for the map of this crate and
//! the layers its modules form (`tests/it/tidy.rs` checks them).

pub mod access;
pub mod api;
pub mod app;
pub mod blobs;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod ecosystems;
pub mod error;
pub mod http;
pub mod identity;
pub mod kinds;
pub mod multipart;
pub mod ops;
pub mod registry;
pub mod router;
pub mod rules;
pub mod serve;
pub mod setup;
pub mod tls;
pub mod ui;
pub mod upstream;
