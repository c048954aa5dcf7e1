//! Every request Composer (and a publisher's `curl`) makes, parsed into one
//! [`Op`].

use axum::http::Method;

use super::names::PackageName;
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `packages.json`.
    Root,
    /// `p2/{vendor}/{package}.json`, or (`dev`) `~dev.json`.
    P2 { name: PackageName, dev: bool },
    /// `dist/{vendor}/{package}/{version}.zip`.
    Dist { name: PackageName, version: String },
    Search,
    List,
    /// `POST api/upload`: a ZIP.
    Upload,
    /// `DELETE api/packages/{vendor}/{package}/versions/{version}`.
    Yank { name: PackageName, version: String },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::Root => "root",
            Op::P2 { .. } => "p2",
            Op::Dist { .. } => "dist",
            Op::Search => "search",
            Op::List => "list",
            Op::Upload => "upload",
            Op::Yank { .. } => "yank",
        }
    }

    fn access(&self) -> Access {
        match self {
            // A dist is the package's source.
            Op::Dist { .. } => Access::Read(Permission::SourceRead),
            Op::Root | Op::P2 { .. } | Op::Search | Op::List => Access::Read(Permission::ReleasesRead),
            Op::Upload | Op::Yank { .. } => Access::Write,
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::P2 { name, .. } | Op::Dist { name, .. } | Op::Yank { name, .. } => Some(name.to_string()),
            _ => None,
        }
    }
}

fn name(vendor: &str, package: &str) -> Result<PackageName, AppError> {
    PackageName::parse(&format!("{vendor}/{package}")).map_err(AppError::BadRequest)
}

fn version(v: &str) -> Result<String, AppError> {
    let ok = !v.is_empty() && v.len() <= 100 && v.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c)) && v != "." && v != "..";
    if ok { Ok(v.to_string()) } else { Err(AppError::bad_request(format!("invalid version `{v}`"))) }
}

pub fn parse(method: &Method, raw: &str) -> Result<Op, AppError> {
    let path = crate::serve::contract::decode_path(raw)?;
    let segs: Vec<&str> = path.split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let op = match segs.as_slice() {
        ["packages.json"] => Op::Root,
        ["search.json"] => Op::Search,
        ["list.json"] => Op::List,
        ["p2", vendor, file] => {
            let (package, dev) = match file.strip_suffix("~dev.json") {
                Some(p) => (p, true),
                None => (file.strip_suffix(".json").ok_or_else(|| AppError::not_found("no such endpoint"))?, false),
            };
            Op::P2 { name: name(vendor, package)?, dev }
        }
        ["dist", vendor, package, file] => {
            let v = file.strip_suffix(".zip").ok_or_else(|| AppError::not_found("no such endpoint"))?;
            Op::Dist { name: name(vendor, package)?, version: version(v)? }
        }
        ["api", "upload"] => {
            return if method == Method::POST { Ok(Op::Upload) } else { Err(AppError::MethodNotAllowed) };
        }
        ["api", "packages", vendor, package, "versions", v] => {
            return if method == Method::DELETE {
                Ok(Op::Yank { name: name(vendor, package)?, version: version(v)? })
            } else {
                Err(AppError::MethodNotAllowed)
            };
        }
        _ => return Err(AppError::not_found("no such endpoint")),
    };
    if get { Ok(op) } else { Err(AppError::MethodNotAllowed) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PackageName {
        PackageName::parse(s).expect("name")
    }

    #[test]
    fn route_table() {
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/packages.json", Op::Root),
            (Method::GET, "/p2/acme/util.json", Op::P2 { name: n("acme/util"), dev: false }),
            (Method::GET, "/p2/acme/util~dev.json", Op::P2 { name: n("acme/util"), dev: true }),
            (Method::GET, "/dist/acme/util/1.0.0.zip", Op::Dist { name: n("acme/util"), version: "1.0.0".into() }),
            (Method::GET, "/search.json", Op::Search),
            (Method::GET, "/list.json", Op::List),
            (Method::POST, "/api/upload", Op::Upload),
            (Method::DELETE, "/api/packages/acme/util/versions/1.0.0", Op::Yank { name: n("acme/util"), version: "1.0.0".into() }),
        ];
        for (m, p, op) in cases {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        for (m, p, status) in [
            (Method::GET, "/p2/acme/../x.json", 400u16),
            (Method::GET, "/p2/ac me/util.json", 400),
            (Method::GET, "/dist/acme/util/1.0%00.zip", 400),
            (Method::GET, "/dist/acme/util/1.0.tar", 404),
            (Method::GET, "/nothing", 404),
            (Method::PUT, "/p2/acme/util.json", 405),
            (Method::GET, "/api/upload", 405),
        ] {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
    }
}
