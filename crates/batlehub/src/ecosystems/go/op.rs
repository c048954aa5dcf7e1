//! Every request the go command (and a publisher's `curl`) makes, parsed
//! into one [`Op`].
//!
//! Paths arrive percent-encoded (`%21` for `!`) and case-encoded (`!x` for
//! `X`): both are undone here, so the rest of the ecosystem sees module
//! paths and versions as the go command writes them in `go.mod`.

use axum::http::Method;

use super::names::{ModulePath, Version};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

/// The files of a module version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    Info,
    Mod,
    Zip,
}

impl Ext {
    pub fn as_str(self) -> &'static str {
        match self {
            Ext::Info => "info",
            Ext::Mod => "mod",
            Ext::Zip => "zip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    List { module: ModulePath },
    Latest { module: ModulePath },
    File { module: ModulePath, version: Version, ext: Ext },
    Publish { module: ModulePath, version: Version },
    /// `/sumdb/{name}/{rest}`: the checksum database through the proxy.
    Sumdb { name: String, rest: String },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::List { .. } => "list",
            Op::Latest { .. } => "latest",
            Op::File { ext: Ext::Info, .. } => "info",
            Op::File { ext: Ext::Mod, .. } => "mod",
            Op::File { ext: Ext::Zip, .. } => "zip",
            Op::Publish { .. } => "publish",
            Op::Sumdb { .. } => "sumdb",
        }
    }

    fn access(&self) -> Access {
        match self {
            Op::File { ext: Ext::Zip, .. } => Access::Read(Permission::SourceRead),
            Op::List { .. } | Op::Latest { .. } | Op::File { .. } | Op::Sumdb { .. } => {
                Access::Read(Permission::ReleasesRead)
            }
            Op::Publish { .. } => Access::Write,
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::List { module } | Op::Latest { module } | Op::File { module, .. } | Op::Publish { module, .. } => {
                Some(module.to_string())
            }
            Op::Sumdb { .. } => None,
        }
    }
}

fn module(escaped: &str) -> Result<ModulePath, AppError> {
    ModulePath::from_escaped(escaped).map_err(AppError::BadRequest)
}

/// A publish URL is written by people (`curl`, following the user guide),
/// who spell the path as `go.mod` does: capitals are taken as they are
/// there, the case-encoded form too. Unambiguous, as `!` is never part of a
/// module path or version. Reads keep to the protocol's encoded form.
fn module_as_written(raw: &str) -> Result<ModulePath, AppError> {
    match ModulePath::from_escaped(raw) {
        Ok(m) => Ok(m),
        Err(e) if raw.contains('!') => Err(AppError::BadRequest(e)),
        Err(_) => ModulePath::parse(raw).map_err(AppError::BadRequest),
    }
}

fn version_as_written(raw: &str) -> Result<Version, AppError> {
    match Version::from_escaped(raw) {
        Ok(v) => Ok(v),
        Err(e) if raw.contains('!') => Err(AppError::BadRequest(e)),
        Err(_) => Version::parse(raw).map_err(AppError::BadRequest),
    }
}

/// A checksum database's name is a host name; what follows it is one of
/// the protocol's paths (`supported`, `latest`, `lookup/...`, `tile/...`).
fn sumdb(rest: &str) -> Result<Op, AppError> {
    let (name, tail) = rest.split_once('/').ok_or_else(|| AppError::not_found("no such endpoint"))?;
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && !name.starts_with(['.', '-']);
    if !name_ok {
        return Err(AppError::bad_request(format!("invalid checksum database name `{name}`")));
    }
    let tail_ok = tail == "supported"
        || tail == "latest"
        || tail.strip_prefix("lookup/").is_some_and(|l| !l.is_empty())
        || tail.strip_prefix("tile/").is_some_and(|t| !t.is_empty());
    if !tail_ok {
        return Err(AppError::not_found("no such checksum database endpoint"));
    }
    if tail.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(AppError::bad_request("invalid checksum database path"));
    }
    Ok(Op::Sumdb { name: name.to_string(), rest: tail.to_string() })
}

pub fn parse(method: &Method, raw: &str) -> Result<Op, AppError> {
    let path = crate::serve::contract::decode_path(raw)?;
    let path = path.as_str();
    let get = method == Method::GET || method == Method::HEAD;
    if let Some(rest) = path.strip_prefix("sumdb/") {
        let op = sumdb(rest)?;
        return if get { Ok(op) } else { Err(AppError::MethodNotAllowed) };
    }
    if let Some(m) = path.strip_suffix("/@latest") {
        let op = Op::Latest { module: module(m)? };
        return if get { Ok(op) } else { Err(AppError::MethodNotAllowed) };
    }
    let Some((m, file)) = path.split_once("/@v/") else {
        return Err(AppError::not_found("no such endpoint: the GOPROXY protocol serves {module}/@v/... and {module}/@latest"));
    };
    if method == Method::PUT
        && let Some(v) = file.strip_suffix(".zip")
        && !v.contains('/')
    {
        return Ok(Op::Publish { module: module_as_written(m)?, version: version_as_written(v)? });
    }
    let module = module(m)?;
    if file == "list" {
        return if get { Ok(Op::List { module }) } else { Err(AppError::MethodNotAllowed) };
    }
    let (version, ext) = match file.rsplit_once('.') {
        Some((v, "info")) => (v, Ext::Info),
        Some((v, "mod")) => (v, Ext::Mod),
        Some((v, "zip")) => (v, Ext::Zip),
        _ => return Err(AppError::not_found(format!("no such endpoint: @v/{file}"))),
    };
    if version.contains('/') {
        return Err(AppError::bad_request(format!("invalid version in @v/{file}")));
    }
    let version = Version::from_escaped(version).map_err(AppError::BadRequest)?;
    match (method, ext) {
        (m, _) if m == Method::GET || m == Method::HEAD => Ok(Op::File { module, version, ext }),
        (m, Ext::Zip) if m == Method::PUT => Ok(Op::Publish { module, version }),
        (m, _) if m == Method::PUT => {
            Err(AppError::bad_request("publish the module zip (`.../@v/{version}.zip`): .info and .mod are made from it"))
        }
        _ => Err(AppError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> ModulePath {
        ModulePath::parse(s).expect("path")
    }

    fn v(s: &str) -> Version {
        Version::parse(s).expect("version")
    }

    #[test]
    fn route_table() {
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/example.com/m/@v/list", Op::List { module: m("example.com/m") }),
            (Method::GET, "/example.com/!org/lib/@latest", Op::Latest { module: m("example.com/Org/lib") }),
            (Method::GET, "/example.com/%21org/lib/@latest", Op::Latest { module: m("example.com/Org/lib") }),
            (
                Method::GET,
                "/example.com/m/v2/@v/v2.0.1.info",
                Op::File { module: m("example.com/m/v2"), version: v("v2.0.1"), ext: Ext::Info },
            ),
            (
                Method::HEAD,
                "/example.com/m/@v/v1.0.0-!r!c1.mod",
                Op::File { module: m("example.com/m"), version: v("v1.0.0-RC1"), ext: Ext::Mod },
            ),
            (
                Method::GET,
                "/example.com/m/@v/v2.0.0+incompatible.zip",
                Op::File { module: m("example.com/m"), version: v("v2.0.0+incompatible"), ext: Ext::Zip },
            ),
            (Method::PUT, "/example.com/m/@v/v1.0.0.zip", Op::Publish { module: m("example.com/m"), version: v("v1.0.0") }),
            // A publish may spell capitals as go.mod does, or case-encoded.
            (
                Method::PUT,
                "/example.com/Org/m/@v/v1.0.0-RC1.zip",
                Op::Publish { module: m("example.com/Org/m"), version: v("v1.0.0-RC1") },
            ),
            (
                Method::PUT,
                "/example.com/!org/m/@v/v1.0.0-!r!c1.zip",
                Op::Publish { module: m("example.com/Org/m"), version: v("v1.0.0-RC1") },
            ),
            (
                Method::GET,
                "/sumdb/sumdb.example/lookup/example.com/m@v1.0.0",
                Op::Sumdb { name: "sumdb.example".into(), rest: "lookup/example.com/m@v1.0.0".into() },
            ),
            (
                Method::GET,
                "/sumdb/sumdb.example/supported",
                Op::Sumdb { name: "sumdb.example".into(), rest: "supported".into() },
            ),
        ];
        for (method, path, op) in cases {
            assert_eq!(parse(&method, path).unwrap_or_else(|e| panic!("{method} {path}: {e}")), op, "{method} {path}");
        }
        for (method, path, status) in [
            (Method::GET, "/example.com/Upper/@v/list", 400u16),
            (Method::GET, "/example.com/m/@v/1.0.0.info", 400),
            (Method::GET, "/example.com/m/@v/v1.0.0.tar", 404),
            (Method::GET, "/example.com/../x/@v/list", 400),
            (Method::GET, "/example.com/m", 404),
            (Method::GET, "/sumdb/sumdb.example/other", 404),
            (Method::GET, "/sumdb/sumdb.example/tile/../x", 400),
            (Method::GET, "/sumdb/bad name/supported", 400),
            (Method::POST, "/example.com/m/@v/v1.0.0.zip", 405),
            (Method::PUT, "/example.com/m/@v/v1.0.0.mod", 400),
            (Method::PUT, "/example.com/!Org/m/@v/v1.0.0.zip", 400),
            (Method::PUT, "/example.com/m/@v/x/v1.0.0.zip", 400),
            (Method::DELETE, "/example.com/m/@v/list", 405),
        ] {
            assert_eq!(parse(&method, path).expect_err(path).status().as_u16(), status, "{method} {path}");
        }
        assert_eq!(
            Op::File { module: m("example.com/m"), version: v("v1.0.0"), ext: Ext::Zip }.access(),
            Access::Read(Permission::SourceRead)
        );
        assert_eq!(Op::List { module: m("example.com/m") }.access(), Access::Read(Permission::ReleasesRead));
    }
}
