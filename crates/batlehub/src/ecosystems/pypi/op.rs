//! Every request pip, uv, poetry and twine make, parsed into one [`Op`].

use axum::http::Method;
use percent_encoding::percent_decode_str;

use super::names::{DistKind, ProjectName, parse_filename, safe_filename};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Root,
    /// `slash` tells whether the URL ended with `/`.
    Project { name: ProjectName, slash: bool },
    File { project: ProjectName, filename: String },
    Metadata { project: ProjectName, filename: String },
    Json { project: ProjectName, version: Option<String> },
    Upload,
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::Root => "root",
            Op::Project { .. } => "project",
            Op::File { .. } => "file",
            Op::Metadata { .. } => "metadata",
            Op::Json { .. } => "json",
            Op::Upload => "upload",
        }
    }

    fn access(&self) -> Access {
        match self {
            Op::Root | Op::Project { .. } | Op::Json { .. } | Op::Metadata { .. } => {
                Access::Read(Permission::ReleasesRead)
            }
            Op::File { filename, .. } => Access::Read(file_permission(filename)),
            Op::Upload => Access::Write,
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::Project { name: p, .. } | Op::File { project: p, .. } | Op::Metadata { project: p, .. } | Op::Json { project: p, .. } => {
                Some(p.key().to_string())
            }
            Op::Root | Op::Upload => None,
        }
    }
}

/// Source archives need `source:read`; wheels are binary release assets.
pub fn file_permission(filename: &str) -> Permission {
    match parse_filename(filename).map(|f| f.kind) {
        Ok(DistKind::Wheel) => Permission::ReleasesRead,
        _ => Permission::SourceRead,
    }
}

fn decode(seg: &str) -> Result<String, AppError> {
    percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AppError::bad_request("path is not valid UTF-8"))
}

fn project_seg(seg: &str) -> Result<ProjectName, AppError> {
    ProjectName::parse(&decode(seg)?).map_err(AppError::BadRequest)
}

pub fn parse(method: &Method, rest: &str) -> Result<Op, AppError> {
    if rest.contains('\\') || rest.contains('\0') {
        return Err(AppError::bad_request("invalid characters in path"));
    }
    let trimmed = rest.strip_prefix('/').unwrap_or(rest);
    let slash = trimmed.ends_with('/');
    let segs: Vec<&str> = trimmed.trim_end_matches('/').split('/').collect();
    if segs.iter().any(|s| s.is_empty()) && trimmed != "simple/" && trimmed != "legacy/" {
        return Err(AppError::not_found("no such endpoint"));
    }
    let get = method == Method::GET || method == Method::HEAD;
    match segs.as_slice() {
        ["simple"] if get => Ok(Op::Root),
        ["simple", name] if get => Ok(Op::Project { name: project_seg(name)?, slash }),
        ["packages", project, file] if get => {
            let project = project_seg(project)?;
            let file = decode(file)?;
            match file.strip_suffix(".metadata") {
                Some(dist) if safe_filename(dist) => Ok(Op::Metadata { project, filename: dist.to_string() }),
                _ if safe_filename(&file) => Ok(Op::File { project, filename: file }),
                _ => Err(AppError::bad_request(format!("invalid file name `{file}`"))),
            }
        }
        ["pypi", project, "json"] if get => Ok(Op::Json { project: project_seg(project)?, version: None }),
        ["pypi", project, version, "json"] if get => {
            Ok(Op::Json { project: project_seg(project)?, version: Some(decode(version)?) })
        }
        ["legacy"] if method == Method::POST => Ok(Op::Upload),
        ["simple", ..] | ["packages", ..] | ["pypi", ..] | ["legacy"] => Err(AppError::MethodNotAllowed),
        _ => Err(AppError::not_found("no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ProjectName {
        ProjectName::parse(s).expect("valid")
    }

    #[test]
    fn route_table() {
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/simple/", Op::Root),
            (Method::GET, "/simple/requests/", Op::Project { name: p("requests"), slash: true }),
            (Method::GET, "/simple/Requests", Op::Project { name: p("Requests"), slash: false }),
            (
                Method::GET,
                "/packages/demo/demo-1.0.tar.gz",
                Op::File { project: p("demo"), filename: "demo-1.0.tar.gz".into() },
            ),
            (
                Method::GET,
                "/packages/demo/demo-1.0-py3-none-any.whl.metadata",
                Op::Metadata { project: p("demo"), filename: "demo-1.0-py3-none-any.whl".into() },
            ),
            (Method::GET, "/pypi/demo/json", Op::Json { project: p("demo"), version: None }),
            (Method::GET, "/pypi/demo/1.0/json", Op::Json { project: p("demo"), version: Some("1.0".into()) }),
            (Method::POST, "/legacy/", Op::Upload),
            (Method::POST, "/legacy", Op::Upload),
        ];
        for (m, p, op) in cases {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        for (m, p, status) in [
            (Method::GET, "/simple/..%2f..%2fetc/", 400u16),
            (Method::GET, "/packages/demo/..%2fcatalog.db", 400),
            (Method::GET, "/packages/demo/.hidden", 400),
            (Method::GET, "/nothing", 404),
            (Method::PUT, "/legacy/", 405),
        ] {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
        assert_eq!(
            Op::File { project: p("d"), filename: "d-1.0.tar.gz".into() }.access(),
            Access::Read(Permission::SourceRead)
        );
        assert_eq!(
            Op::File { project: p("d"), filename: "d-1.0-py3-none-any.whl".into() }.access(),
            Access::Read(Permission::ReleasesRead)
        );
    }
}
