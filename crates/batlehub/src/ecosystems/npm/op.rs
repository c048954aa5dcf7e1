//! Every request npm, pnpm and yarn make, parsed into one [`Op`]. Routing is
//! parsing: there is no route order to get wrong, and `/-/whoami` can never
//! be mistaken for a package.

use axum::http::Method;
use percent_encoding::percent_decode_str;

use super::names::{NpmName, valid_filename, valid_tag};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Ping,
    Whoami,
    Search,
    AuditBulk,
    AuditQuick,
    /// `npm login` / `npm adduser` with a password: not supported (tokens only).
    Login,
    /// `GET /-/user/org.couchdb.user:{name}`: what `npm owner add` asks
    /// about the user it adds.
    User {
        name: String,
    },
    Packument {
        name: NpmName,
    },
    Version {
        name: NpmName,
        spec: String,
    },
    Tarball {
        name: NpmName,
        filename: String,
    },
    /// `PUT /{name}`: a publish, or (without attachments) a metadata change
    /// such as `npm deprecate`; with `-rev`, the packument replaces the
    /// current one (npm unpublish of one version).
    Publish {
        name: NpmName,
        rev: Option<String>,
    },
    UnpublishPackage {
        name: NpmName,
    },
    DeleteTarball {
        name: NpmName,
        filename: String,
    },
    DistTags {
        name: NpmName,
    },
    DistTagSet {
        name: NpmName,
        tag: String,
    },
    DistTagDelete {
        name: NpmName,
        tag: String,
    },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::Ping => "ping",
            Op::Whoami => "whoami",
            Op::Search => "search",
            Op::AuditBulk => "auditbulk",
            Op::AuditQuick => "auditquick",
            Op::Login => "login",
            Op::User { .. } => "user",
            Op::Packument { .. } => "packument",
            Op::Version { .. } => "version",
            Op::Tarball { .. } => "tarball",
            Op::Publish { .. } => "publish",
            Op::UnpublishPackage { .. } => "unpublishpackage",
            Op::DeleteTarball { .. } => "deletetarball",
            Op::DistTags { .. } => "disttags",
            Op::DistTagSet { .. } => "disttagset",
            Op::DistTagDelete { .. } => "disttagdelete",
        }
    }

    fn access(&self) -> Access {
        match self {
            // Anyone may call these; whoami answers 401 to the anonymous itself.
            Op::Ping | Op::Whoami | Op::Login | Op::User { .. } => Access::Anyone,
            Op::Search | Op::AuditBulk | Op::AuditQuick | Op::Packument { .. } | Op::Version { .. } | Op::DistTags { .. } => {
                Access::Read(Permission::ReleasesRead)
            }
            Op::Tarball { .. } => Access::Read(Permission::SourceRead),
            Op::Publish { .. }
            | Op::UnpublishPackage { .. }
            | Op::DeleteTarball { .. }
            | Op::DistTagSet { .. }
            | Op::DistTagDelete { .. } => Access::Write,
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::Packument { name }
            | Op::Version { name, .. }
            | Op::Tarball { name, .. }
            | Op::Publish { name, .. }
            | Op::UnpublishPackage { name }
            | Op::DeleteTarball { name, .. }
            | Op::DistTags { name }
            | Op::DistTagSet { name, .. }
            | Op::DistTagDelete { name, .. } => Some(name.full()),
            Op::Ping | Op::Whoami | Op::Search | Op::AuditBulk | Op::AuditQuick | Op::Login | Op::User { .. } => None,
        }
    }
}

fn decode(seg: &str) -> Result<String, AppError> {
    percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AppError::bad_request("path segment is not valid UTF-8"))
}

fn name_from(s: &str) -> Result<NpmName, AppError> {
    NpmName::parse(s).map_err(AppError::BadRequest)
}

/// Take a package name off the front of `segs`: `@scope%2fname` (one
/// segment) or `@scope/name` (two) or `name`.
fn take_name<'a>(segs: &'a [&'a str]) -> Result<(NpmName, &'a [&'a str]), AppError> {
    let first = decode(segs[0])?;
    if first.starts_with('@') && !first.contains('/') {
        let Some(second) = segs.get(1) else {
            return Err(AppError::bad_request(format!("scoped package name `{first}` must be @scope/name")));
        };
        let name = name_from(&format!("{first}/{}", decode(second)?))?;
        return Ok((name, &segs[2..]));
    }
    Ok((name_from(&first)?, &segs[1..]))
}

fn not_found() -> AppError {
    AppError::not_found("no such endpoint")
}

/// Parse `rest`, the raw (still percent-encoded) path after
/// `/proxy/{registry}`.
pub fn parse(method: &Method, rest: &str) -> Result<Op, AppError> {
    if rest.contains('\\') || rest.contains('\0') {
        return Err(AppError::bad_request("invalid characters in path"));
    }
    let trimmed = rest.strip_prefix('/').unwrap_or(rest);
    if trimmed.is_empty() {
        return Err(not_found());
    }
    let segs: Vec<&str> = trimmed.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(not_found());
    }
    let get = method == Method::GET || method == Method::HEAD;
    let wrong_method = || AppError::MethodNotAllowed;

    if segs[0] == "-" && segs.len() > 1 {
        return match (&segs[1..], method) {
            (["ping"], _) if get => Ok(Op::Ping),
            (["whoami"], _) if get => Ok(Op::Whoami),
            (["v1", "search"], _) if get => Ok(Op::Search),
            (["npm", "v1", "security", "advisories", "bulk"], m) if m == Method::POST => Ok(Op::AuditBulk),
            (["npm", "v1", "security", "audits", "quick"], m) if m == Method::POST => Ok(Op::AuditQuick),
            (["user", _], m) if m == Method::PUT => Ok(Op::Login),
            (["user", who], _) if get => {
                let who = decode(who)?;
                match who.strip_prefix("org.couchdb.user:") {
                    Some(n) if !n.is_empty() && n.len() <= 256 && !n.chars().any(char::is_control) => {
                        Ok(Op::User { name: n.to_string() })
                    }
                    _ => Err(AppError::bad_request(format!("invalid user `{who}`"))),
                }
            }
            (["package", rest @ ..], _) if !rest.is_empty() => {
                let (name, tail) = take_name(rest)?;
                match tail {
                    ["dist-tags"] if get => Ok(Op::DistTags { name }),
                    ["dist-tags", tag] => {
                        let tag = decode(tag)?;
                        if !valid_tag(&tag) {
                            return Err(AppError::bad_request(format!("invalid dist-tag `{tag}`")));
                        }
                        if method == Method::PUT || method == Method::POST {
                            Ok(Op::DistTagSet { name, tag })
                        } else if method == Method::DELETE {
                            Ok(Op::DistTagDelete { name, tag })
                        } else if get {
                            Err(not_found())
                        } else {
                            Err(wrong_method())
                        }
                    }
                    ["dist-tags"] => Err(wrong_method()),
                    _ => Err(not_found()),
                }
            }
            (["ping"] | ["whoami"] | ["v1", "search"], _) => Err(wrong_method()),
            _ => Err(not_found()),
        };
    }

    let (name, tail) = take_name(&segs)?;
    match tail {
        [] if get => Ok(Op::Packument { name }),
        [] if method == Method::PUT => Ok(Op::Publish { name, rev: None }),
        [] => Err(wrong_method()),
        ["-rev", rev] if method == Method::PUT => Ok(Op::Publish { name, rev: Some(decode(rev)?) }),
        ["-rev", _] if method == Method::DELETE => Ok(Op::UnpublishPackage { name }),
        ["-rev", _] => Err(wrong_method()),
        ["-", file] => {
            let filename = decode(file)?;
            if !valid_filename(&filename) {
                return Err(AppError::bad_request(format!("invalid file name `{filename}`")));
            }
            if get { Ok(Op::Tarball { name, filename }) } else { Err(wrong_method()) }
        }
        ["-", file, "-rev", _] if method == Method::DELETE => {
            let filename = decode(file)?;
            if !valid_filename(&filename) {
                return Err(AppError::bad_request(format!("invalid file name `{filename}`")));
            }
            Ok(Op::DeleteTarball { name, filename })
        }
        [spec] if get => {
            let spec = decode(spec)?;
            if spec.len() > 256 || spec.chars().any(|c| c.is_control() || c == '/') {
                return Err(AppError::bad_request("invalid version"));
            }
            Ok(Op::Version { name, spec })
        }
        [_] => Err(wrong_method()),
        _ => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> NpmName {
        NpmName::parse(s).expect("valid name")
    }

    #[test]
    fn route_table() {
        let get = Method::GET;
        let put = Method::PUT;
        let del = Method::DELETE;
        let post = Method::POST;
        let cases: Vec<(Method, &str, Op)> = vec![
            (get.clone(), "/-/ping", Op::Ping),
            (get.clone(), "/-/whoami", Op::Whoami),
            (Method::HEAD, "/-/whoami", Op::Whoami),
            (get.clone(), "/-/v1/search", Op::Search),
            (post.clone(), "/-/npm/v1/security/advisories/bulk", Op::AuditBulk),
            (post.clone(), "/-/npm/v1/security/audits/quick", Op::AuditQuick),
            (put.clone(), "/-/user/org.couchdb.user:bob", Op::Login),
            (Method::GET, "/-/user/org.couchdb.user:bob", Op::User { name: "bob".into() }),
            // A package literally named `-` is not whoami.
            (get.clone(), "/-", Op::Packument { name: n("-") }),
            (get.clone(), "/lodash", Op::Packument { name: n("lodash") }),
            (get.clone(), "/@myorg%2fpkg", Op::Packument { name: n("@myorg/pkg") }),
            (get.clone(), "/@myorg%2Fpkg", Op::Packument { name: n("@myorg/pkg") }),
            (get.clone(), "/@myorg/pkg", Op::Packument { name: n("@myorg/pkg") }),
            (get.clone(), "/lodash/4.17.21", Op::Version { name: n("lodash"), spec: "4.17.21".into() }),
            (get.clone(), "/lodash/latest", Op::Version { name: n("lodash"), spec: "latest".into() }),
            (get.clone(), "/@myorg/pkg/1.0.0", Op::Version { name: n("@myorg/pkg"), spec: "1.0.0".into() }),
            (get.clone(), "/@myorg%2fpkg/1.0.0", Op::Version { name: n("@myorg/pkg"), spec: "1.0.0".into() }),
            (
                get.clone(),
                "/lodash/-/lodash-4.17.21.tgz",
                Op::Tarball { name: n("lodash"), filename: "lodash-4.17.21.tgz".into() },
            ),
            (
                Method::HEAD,
                "/lodash/-/lodash-4.17.21.tgz",
                Op::Tarball { name: n("lodash"), filename: "lodash-4.17.21.tgz".into() },
            ),
            (
                get.clone(),
                "/@myorg/pkg/-/pkg-1.0.0.tgz",
                Op::Tarball { name: n("@myorg/pkg"), filename: "pkg-1.0.0.tgz".into() },
            ),
            (
                get.clone(),
                "/@myorg%2fpkg/-/pkg-1.0.0.tgz",
                Op::Tarball { name: n("@myorg/pkg"), filename: "pkg-1.0.0.tgz".into() },
            ),
            (put.clone(), "/lodash", Op::Publish { name: n("lodash"), rev: None }),
            (put.clone(), "/@myorg%2fpkg", Op::Publish { name: n("@myorg/pkg"), rev: None }),
            (put.clone(), "/lodash/-rev/3-abc", Op::Publish { name: n("lodash"), rev: Some("3-abc".into()) }),
            (del.clone(), "/lodash/-rev/3-abc", Op::UnpublishPackage { name: n("lodash") }),
            (
                del.clone(),
                "/lodash/-/lodash-1.0.0.tgz/-rev/4-x",
                Op::DeleteTarball { name: n("lodash"), filename: "lodash-1.0.0.tgz".into() },
            ),
            (get.clone(), "/-/package/lodash/dist-tags", Op::DistTags { name: n("lodash") }),
            (get.clone(), "/-/package/@myorg%2fpkg/dist-tags", Op::DistTags { name: n("@myorg/pkg") }),
            (get.clone(), "/-/package/@myorg/pkg/dist-tags", Op::DistTags { name: n("@myorg/pkg") }),
            (put.clone(), "/-/package/lodash/dist-tags/beta", Op::DistTagSet { name: n("lodash"), tag: "beta".into() }),
            (
                del.clone(),
                "/-/package/@myorg%2fpkg/dist-tags/beta",
                Op::DistTagDelete { name: n("@myorg/pkg"), tag: "beta".into() },
            ),
        ];
        for (method, path, expected) in cases {
            let got = parse(&method, path).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            assert_eq!(got, expected, "{method} {path}");
        }
    }

    #[test]
    fn refusals() {
        use axum::http::StatusCode;
        let cases: Vec<(Method, &str, StatusCode)> = vec![
            (Method::GET, "/", StatusCode::NOT_FOUND),
            (Method::GET, "", StatusCode::NOT_FOUND),
            (Method::GET, "/-/nosuch", StatusCode::NOT_FOUND),
            (Method::POST, "/-/whoami", StatusCode::METHOD_NOT_ALLOWED),
            (Method::GET, "/..", StatusCode::BAD_REQUEST),
            (Method::GET, "/%2e%2e", StatusCode::BAD_REQUEST),
            (Method::GET, "/%2e%2e%2fetc", StatusCode::BAD_REQUEST),
            (Method::GET, "/a\\b", StatusCode::BAD_REQUEST),
            (Method::GET, "/a%00b", StatusCode::BAD_REQUEST),
            (Method::GET, "/@scope/a/b/c/d", StatusCode::NOT_FOUND),
            (Method::GET, "/@scope%2fa%2fb", StatusCode::BAD_REQUEST),
            (Method::GET, "/@scope", StatusCode::BAD_REQUEST),
            (Method::GET, "/lodash/-/..%2f..%2fx.tgz", StatusCode::BAD_REQUEST),
            (Method::GET, "//lodash", StatusCode::NOT_FOUND),
            (Method::PUT, "/-/package/x/dist-tags/1.0.0", StatusCode::BAD_REQUEST),
            (Method::DELETE, "/lodash", StatusCode::METHOD_NOT_ALLOWED),
            (Method::POST, "/lodash/1.0.0", StatusCode::METHOD_NOT_ALLOWED),
            (Method::GET, "/%ff", StatusCode::BAD_REQUEST),
        ];
        for (method, path, status) in cases {
            let err = parse(&method, path).expect_err(path);
            assert_eq!(err.status(), status, "{method} {path}: {err}");
        }
    }

    #[test]
    fn access_classes_and_audit_names() {
        assert_eq!(
            Op::Tarball { name: n("a"), filename: "a-1.0.0.tgz".into() }.access(),
            Access::Read(Permission::SourceRead)
        );
        assert_eq!(Op::Packument { name: n("a") }.access(), Access::Read(Permission::ReleasesRead));
        assert_eq!(Op::Publish { name: n("a"), rev: None }.access(), Access::Write);
        assert_eq!(Op::DistTagDelete { name: n("a"), tag: "x".into() }.access(), Access::Write);
        assert_eq!(Op::Whoami.access(), Access::Anyone);
        assert_eq!(Op::Ping.access(), Access::Anyone);
        // The audit trail's action names are stable strings.
        assert_eq!(Op::UnpublishPackage { name: n("a") }.audit_name(), "unpublishpackage");
        assert_eq!(Op::DistTagSet { name: n("@s/a"), tag: "x".into() }.package().as_deref(), Some("@s/a"));
        assert_eq!(Op::Search.package(), None);
    }
}
