//! Every request cargo makes, parsed into one [`Op`].

use axum::http::Method;
use percent_encoding::percent_decode_str;

use super::names::{CrateName, parse_index_path};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Config,
    Index { name: CrateName },
    Download { name: CrateName, version: String },
    Publish,
    Yank { name: CrateName, version: String },
    Unyank { name: CrateName, version: String },
    OwnersList { name: CrateName },
    OwnersAdd { name: CrateName },
    OwnersRemove { name: CrateName },
    Search,
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::Config => "config",
            Op::Index { .. } => "index",
            Op::Download { .. } => "download",
            Op::Publish => "publish",
            Op::Yank { .. } => "yank",
            Op::Unyank { .. } => "unyank",
            Op::OwnersList { .. } => "ownerslist",
            Op::OwnersAdd { .. } => "ownersadd",
            Op::OwnersRemove { .. } => "ownersremove",
            Op::Search => "search",
        }
    }

    fn access(&self) -> Access {
        match self {
            // cargo reads config.json before it sends a token: it is what
            // says whether a token is needed.
            Op::Config => Access::Open,
            Op::Index { .. } | Op::Search | Op::OwnersList { .. } => Access::Read(Permission::ReleasesRead),
            Op::Download { .. } => Access::Read(Permission::SourceRead),
            Op::Publish | Op::Yank { .. } | Op::Unyank { .. } | Op::OwnersAdd { .. } | Op::OwnersRemove { .. } => {
                Access::Write
            }
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::Index { name }
            | Op::Download { name, .. }
            | Op::Yank { name, .. }
            | Op::Unyank { name, .. }
            | Op::OwnersList { name }
            | Op::OwnersAdd { name }
            | Op::OwnersRemove { name } => Some(name.as_str().to_string()),
            Op::Config | Op::Publish | Op::Search => None,
        }
    }
}

fn crate_name(seg: &str) -> Result<CrateName, AppError> {
    let decoded =
        percent_decode_str(seg).decode_utf8().map_err(|_| AppError::bad_request("path is not valid UTF-8"))?;
    CrateName::parse(&decoded).map_err(AppError::BadRequest)
}

fn version_seg(seg: &str) -> Result<String, AppError> {
    let v = percent_decode_str(seg)
        .decode_utf8()
        .map_err(|_| AppError::bad_request("path is not valid UTF-8"))?
        .into_owned();
    if semver::Version::parse(&v).is_err() {
        return Err(AppError::bad_request(format!("invalid version `{v}`")));
    }
    Ok(v)
}

/// Parse `rest`, the raw path after `/proxy/{registry}`.
pub fn parse(method: &Method, rest: &str) -> Result<Op, AppError> {
    if rest.contains('\\') || rest.contains('\0') {
        return Err(AppError::bad_request("invalid characters in path"));
    }
    let trimmed = rest.strip_prefix('/').unwrap_or(rest);
    let segs: Vec<&str> = trimmed.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(AppError::not_found("no such endpoint"));
    }
    let get = method == Method::GET || method == Method::HEAD;
    match segs.as_slice() {
        ["registry", "config.json"] if get => Ok(Op::Config),
        ["registry", rest @ ..] if get && !rest.is_empty() => {
            if rest.iter().any(|s| s.contains('%') || *s == ".." || *s == ".") {
                return Err(AppError::bad_request("invalid index path"));
            }
            parse_index_path(rest)
                .map(|name| Op::Index { name })
                .ok_or_else(|| AppError::not_found("no such index file"))
        }
        ["api", "v1", "crates", "new"] if method == Method::PUT => Ok(Op::Publish),
        ["api", "v1", "crates"] if get => Ok(Op::Search),
        ["api", "v1", "crates", name, version, "download"] if get => {
            Ok(Op::Download { name: crate_name(name)?, version: version_seg(version)? })
        }
        ["api", "v1", "crates", name, version, "yank"] if method == Method::DELETE => {
            Ok(Op::Yank { name: crate_name(name)?, version: version_seg(version)? })
        }
        ["api", "v1", "crates", name, version, "unyank"] if method == Method::PUT => {
            Ok(Op::Unyank { name: crate_name(name)?, version: version_seg(version)? })
        }
        ["api", "v1", "crates", name, "owners"] => {
            let name = crate_name(name)?;
            match *method {
                Method::GET | Method::HEAD => Ok(Op::OwnersList { name }),
                Method::PUT => Ok(Op::OwnersAdd { name }),
                Method::DELETE => Ok(Op::OwnersRemove { name }),
                _ => Err(AppError::MethodNotAllowed),
            }
        }
        ["registry", ..] | ["api", "v1", "crates", ..] => Err(AppError::MethodNotAllowed),
        _ => Err(AppError::not_found("no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> CrateName {
        CrateName::parse(s).expect("valid")
    }

    #[test]
    fn route_table() {
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/registry/config.json", Op::Config),
            (Method::GET, "/registry/1/a", Op::Index { name: n("a") }),
            (Method::GET, "/registry/2/ab", Op::Index { name: n("ab") }),
            (Method::GET, "/registry/3/a/abc", Op::Index { name: n("abc") }),
            (Method::GET, "/registry/se/rd/serde", Op::Index { name: n("serde") }),
            (Method::GET, "/registry/my/-l/my-lib", Op::Index { name: n("my-lib") }),
            (Method::PUT, "/api/v1/crates/new", Op::Publish),
            (Method::GET, "/api/v1/crates", Op::Search),
            (
                Method::GET,
                "/api/v1/crates/serde/1.0.0/download",
                Op::Download { name: n("serde"), version: "1.0.0".into() },
            ),
            (Method::DELETE, "/api/v1/crates/serde/1.0.0/yank", Op::Yank { name: n("serde"), version: "1.0.0".into() }),
            (
                Method::PUT,
                "/api/v1/crates/serde/1.0.0/unyank",
                Op::Unyank { name: n("serde"), version: "1.0.0".into() },
            ),
            (Method::GET, "/api/v1/crates/serde/owners", Op::OwnersList { name: n("serde") }),
            (Method::PUT, "/api/v1/crates/serde/owners", Op::OwnersAdd { name: n("serde") }),
            (Method::DELETE, "/api/v1/crates/serde/owners", Op::OwnersRemove { name: n("serde") }),
        ];
        for (m, p, op) in cases {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        let refusals: Vec<(Method, &str, u16)> = vec![
            (Method::GET, "/registry/xx/yy/serde", 404),
            (Method::GET, "/registry/../../etc/passwd", 400),
            (Method::GET, "/registry/%2e%2e/x", 400),
            (Method::GET, "/registry/1/1", 404),
            (Method::GET, "/api/v1/crates/1bad/1.0.0/download", 400),
            (Method::GET, "/api/v1/crates/ok/1.0/download", 400),
            (Method::POST, "/api/v1/crates/new", 405),
            (Method::GET, "/nosuch", 404),
            (Method::GET, "/registry//a", 404),
        ];
        for (m, p, status) in refusals {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
    }
}
