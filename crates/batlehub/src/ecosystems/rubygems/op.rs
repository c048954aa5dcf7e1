//! Every request gem and Bundler make, parsed into one [`Op`].

use axum::http::Method;

use super::names::check_name;
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The compact index.
    Versions,
    Names,
    Info { name: String },
    /// `gems/{file}.gem`: the name is told apart from the version when
    /// served (names may hold dashes and digits).
    Gem { file: String },
    /// `gem push`.
    Push,
    /// `gem yank` (`DELETE api/v1/gems/yank`, fields in the query or form).
    Yank,
    /// `PUT api/v1/gems/unyank` (same fields).
    Unyank,
    /// `api/v1/dependencies?gems=a,b` (Marshal).
    Dependencies,
    /// `api/v1/gems/{name}.json`.
    GemJson { name: String },
    /// `api/v1/versions/{name}.json`.
    VersionsJson { name: String },
    /// The legacy Marshal indexes `gem install` reads: `specs.4.8.gz`,
    /// `latest_specs.4.8.gz`, `prerelease_specs.4.8.gz`.
    Specs { kind: SpecsKind },
    /// `quick/Marshal.4.8/{name}-{version}[-{platform}].gemspec.rz`.
    Gemspec { file: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecsKind {
    All,
    Latest,
    Prerelease,
}

impl SpecsKind {
    pub fn file(self) -> &'static str {
        match self {
            SpecsKind::All => "specs.4.8.gz",
            SpecsKind::Latest => "latest_specs.4.8.gz",
            SpecsKind::Prerelease => "prerelease_specs.4.8.gz",
        }
    }
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::Versions => "versions",
            Op::Names => "names",
            Op::Info { .. } => "info",
            Op::Gem { .. } => "gem",
            Op::Push => "push",
            Op::Yank => "yank",
            Op::Unyank => "unyank",
            Op::Dependencies => "dependencies",
            Op::GemJson { .. } => "gem-json",
            Op::VersionsJson { .. } => "versions-json",
            Op::Specs { .. } => "specs",
            Op::Gemspec { .. } => "gemspec",
        }
    }

    fn access(&self) -> Access {
        match self {
            Op::Push | Op::Yank | Op::Unyank => Access::Write,
            // A gem is a release asset; gems of a source language ship their
            // source, but so does every package of every registry here that
            // is not a source archive by name.
            _ => Access::Read(Permission::ReleasesRead),
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::Info { name } | Op::GemJson { name } | Op::VersionsJson { name } => Some(name.clone()),
            _ => None,
        }
    }
}

fn name(s: &str) -> Result<String, AppError> {
    check_name(s).map_err(AppError::BadRequest)?;
    Ok(s.to_string())
}

pub fn parse(method: &Method, raw: &str) -> Result<Op, AppError> {
    let path = crate::serve::contract::decode_path(raw)?;
    let segs: Vec<&str> = path.split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let op = match segs.as_slice() {
        ["versions"] => Op::Versions,
        ["specs.4.8.gz"] => Op::Specs { kind: SpecsKind::All },
        ["latest_specs.4.8.gz"] => Op::Specs { kind: SpecsKind::Latest },
        ["prerelease_specs.4.8.gz"] => Op::Specs { kind: SpecsKind::Prerelease },
        ["quick", "Marshal.4.8", file] => {
            let stem = file.strip_suffix(".gemspec.rz").ok_or_else(|| AppError::not_found("no such endpoint"))?;
            if stem.is_empty() || !stem.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
                return Err(AppError::bad_request(format!("invalid gemspec file name `{file}`")));
            }
            Op::Gemspec { file: format!("{stem}.gem") }
        }
        ["names"] => Op::Names,
        ["info", n] => Op::Info { name: name(n)? },
        ["gems", file] => {
            let stem = file.strip_suffix(".gem").ok_or_else(|| AppError::not_found("no such endpoint"))?;
            if !stem.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) || stem.is_empty() {
                return Err(AppError::bad_request(format!("invalid gem file name `{file}`")));
            }
            Op::Gem { file: file.to_string() }
        }
        ["api", "v1", "gems"] => {
            return if method == Method::POST { Ok(Op::Push) } else { Err(AppError::MethodNotAllowed) };
        }
        ["api", "v1", "gems", "yank"] => {
            return if method == Method::DELETE { Ok(Op::Yank) } else { Err(AppError::MethodNotAllowed) };
        }
        ["api", "v1", "gems", "unyank"] => {
            return if method == Method::PUT { Ok(Op::Unyank) } else { Err(AppError::MethodNotAllowed) };
        }
        ["api", "v1", "dependencies"] => Op::Dependencies,
        ["api", "v1", "gems", file] => {
            let n = file.strip_suffix(".json").ok_or_else(|| AppError::not_found("no such endpoint"))?;
            Op::GemJson { name: name(n)? }
        }
        ["api", "v1", "versions", file] => {
            let n = file.strip_suffix(".json").ok_or_else(|| AppError::not_found("no such endpoint"))?;
            Op::VersionsJson { name: name(n)? }
        }
        _ => return Err(AppError::not_found("no such endpoint")),
    };
    if get { Ok(op) } else { Err(AppError::MethodNotAllowed) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        for (m, p, op) in [
            (Method::GET, "/versions", Op::Versions),
            (Method::GET, "/names", Op::Names),
            (Method::GET, "/info/rack-test", Op::Info { name: "rack-test".into() }),
            (Method::GET, "/gems/rack-3.0.0.gem", Op::Gem { file: "rack-3.0.0.gem".into() }),
            (Method::POST, "/api/v1/gems", Op::Push),
            (Method::DELETE, "/api/v1/gems/yank", Op::Yank),
            (Method::GET, "/api/v1/gems/rack.json", Op::GemJson { name: "rack".into() }),
            (Method::GET, "/api/v1/versions/rack.json", Op::VersionsJson { name: "rack".into() }),
            (Method::GET, "/specs.4.8.gz", Op::Specs { kind: SpecsKind::All }),
            (Method::GET, "/quick/Marshal.4.8/rack-3.0.0.gemspec.rz", Op::Gemspec { file: "rack-3.0.0.gem".into() }),
        ] {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        for (m, p, status) in [
            (Method::GET, "/info/../x", 400u16),
            (Method::GET, "/info/-x", 400),
            (Method::GET, "/gems/a%20b-1.0.gem", 400),
            (Method::GET, "/gems/x.tar", 404),
            (Method::GET, "/nothing", 404),
            (Method::PUT, "/versions", 405),
            (Method::GET, "/api/v1/gems", 405),
        ] {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
    }
}
