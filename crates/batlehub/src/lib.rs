//! BatleHub: one server that stands between developers / CI and the package
//! ecosystems, as a caching proxy, a private registry, or both.
//!
//! See ARCHITECTURE.md at the repository root for the map of this crate.

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
pub mod multipart;
pub mod ops;
pub mod registry;
pub mod router;
pub mod setup;
pub mod ui;
pub mod upstream;
