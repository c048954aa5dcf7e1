//! Every request NuGet clients (and the user guide's `curl`) make, parsed
//! into one [`Op`].

use axum::http::Method;

use super::names::{PackageId, Version};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

/// The two files of a version in the flat container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Nupkg,
    Nuspec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `nuget/v3/index.json`, the service index.
    ServiceIndex,
    /// `nuget/v3/flat/{id}/index.json`: every version.
    Versions { id: PackageId },
    /// `nuget/v3/flat/{id}/{version}/{id}.{version}.nupkg` or `{id}.nuspec`.
    Content { id: PackageId, version: Version, content: Content },
    /// `nuget/v3/registration/{id}/index.json`.
    Registration { id: PackageId },
    /// `nuget/v3/registration/{id}/page/{lower}/{upper}.json`.
    RegistrationPage { id: PackageId, lower: Version, upper: Version },
    /// `nuget/v3/registration/{id}/{version}.json`.
    RegistrationLeaf { id: PackageId, version: Version },
    /// `nuget/v3/query?q=&skip=&take=&prerelease=&semVerLevel=`.
    Search,
    /// `nuget/v3/autocomplete?q=` (ids) or `?id=` (one id's versions).
    Autocomplete,
    /// `PUT nuget/v2/package[/]`: a `.nupkg`, multipart or raw.
    Push,
    /// `PUT nuget/v2/symbolpackage[/]`: a `.snupkg` of a pushed version.
    PushSymbols,
    /// `DELETE nuget/v2/package/{id}/{version}`: unlist.
    Unlist { id: PackageId, version: Version },
    /// `POST nuget/v2/package/{id}/{version}`: list again.
    Relist { id: PackageId, version: Version },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::ServiceIndex => "service-index",
            Op::Versions { .. } => "versions",
            Op::Content { content: Content::Nupkg, .. } => "nupkg",
            Op::Content { content: Content::Nuspec, .. } => "nuspec",
            Op::Registration { .. } => "registration",
            Op::RegistrationPage { .. } => "registration-page",
            Op::RegistrationLeaf { .. } => "registration-leaf",
            Op::Search => "search",
            Op::Autocomplete => "autocomplete",
            Op::Push => "push",
            Op::PushSymbols => "push-symbols",
            Op::Unlist { .. } => "unlist",
            Op::Relist { .. } => "relist",
        }
    }

    fn access(&self) -> Access {
        match self {
            // What every client reads first, before it knows it needs
            // credentials; it names no package (and `curl | jq .version`
            // works as the user guide shows).
            Op::ServiceIndex => Access::Open,
            Op::Push | Op::PushSymbols | Op::Unlist { .. } | Op::Relist { .. } => Access::Write,
            // A .nupkg is a release asset (compiled), like a jar or a wheel.
            _ => Access::Read(Permission::ReleasesRead),
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::Versions { id }
            | Op::Content { id, .. }
            | Op::Registration { id }
            | Op::RegistrationPage { id, .. }
            | Op::RegistrationLeaf { id, .. }
            | Op::Unlist { id, .. }
            | Op::Relist { id, .. } => Some(id.to_string()),
            _ => None,
        }
    }
}

fn id(s: &str) -> Result<PackageId, AppError> {
    PackageId::parse(s).map_err(AppError::BadRequest)
}

fn version(s: &str) -> Result<Version, AppError> {
    Version::parse(s).map_err(AppError::BadRequest)
}

pub fn parse(method: &Method, raw: &str) -> Result<Op, AppError> {
    let path = crate::serve::contract::decode_path(raw)?;
    let segs: Vec<&str> = path.split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let only = |allowed: bool, op: Op| if allowed { Ok(op) } else { Err(AppError::MethodNotAllowed) };
    match segs.as_slice() {
        ["nuget", "v3", "index.json"] => only(get, Op::ServiceIndex),
        ["nuget", "v3", "flat", i, "index.json"] => only(get, Op::Versions { id: id(i)? }),
        ["nuget", "v3", "flat", i, v, file] => {
            let (i, v) = (id(i)?, version(v)?);
            let file = file.to_ascii_lowercase();
            let content = if file == format!("{}.nuspec", i.lower()) {
                Content::Nuspec
            } else if file == format!("{}.{}.nupkg", i.lower(), v.key())
                || file == format!("{}.{}.nupkg", i.lower(), segs[4].to_ascii_lowercase())
            {
                Content::Nupkg
            } else {
                return Err(AppError::not_found("no such file in the flat container"));
            };
            only(get, Op::Content { id: i, version: v, content })
        }
        ["nuget", "v3", "registration", i, "index.json"] => only(get, Op::Registration { id: id(i)? }),
        ["nuget", "v3", "registration", i, "page", lower, upper] => {
            let upper = upper.strip_suffix(".json").ok_or_else(|| AppError::not_found("no such endpoint"))?;
            only(get, Op::RegistrationPage { id: id(i)?, lower: version(lower)?, upper: version(upper)? })
        }
        ["nuget", "v3", "registration", i, leaf] => {
            let v = leaf.strip_suffix(".json").ok_or_else(|| AppError::not_found("no such endpoint"))?;
            only(get, Op::RegistrationLeaf { id: id(i)?, version: version(v)? })
        }
        ["nuget", "v3", "query"] => only(get, Op::Search),
        ["nuget", "v3", "autocomplete"] => only(get, Op::Autocomplete),
        // Clients append a slash to the publish URL when they push.
        ["nuget", "v2", "package"] | ["nuget", "v2", "package", ""] => only(method == Method::PUT, Op::Push),
        ["nuget", "v2", "symbolpackage"] | ["nuget", "v2", "symbolpackage", ""] => {
            only(method == Method::PUT, Op::PushSymbols)
        }
        ["nuget", "v2", "package", i, v] => {
            let (i, v) = (id(i)?, version(v)?);
            if method == Method::DELETE {
                Ok(Op::Unlist { id: i, version: v })
            } else if method == Method::POST {
                Ok(Op::Relist { id: i, version: v })
            } else {
                Err(AppError::MethodNotAllowed)
            }
        }
        _ => Err(AppError::not_found("no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(s: &str) -> PackageId {
        PackageId::parse(s).expect("id")
    }

    fn v(s: &str) -> Version {
        Version::parse(s).expect("version")
    }

    #[test]
    fn route_table() {
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/nuget/v3/index.json", Op::ServiceIndex),
            (Method::HEAD, "/nuget/v3/index.json", Op::ServiceIndex),
            (Method::GET, "/nuget/v3/flat/My.Lib/index.json", Op::Versions { id: i("My.Lib") }),
            (
                Method::GET,
                "/nuget/v3/flat/my.lib/1.0.0/my.lib.1.0.0.nupkg",
                Op::Content { id: i("my.lib"), version: v("1.0.0"), content: Content::Nupkg },
            ),
            (
                Method::GET,
                "/nuget/v3/flat/my.lib/1.0/my.lib.1.0.nupkg",
                Op::Content { id: i("my.lib"), version: v("1.0.0"), content: Content::Nupkg },
            ),
            (
                Method::GET,
                "/nuget/v3/flat/my.lib/1.0.0-beta/my.lib.nuspec",
                Op::Content { id: i("my.lib"), version: v("1.0.0-beta"), content: Content::Nuspec },
            ),
            (Method::GET, "/nuget/v3/registration/my.lib/index.json", Op::Registration { id: i("my.lib") }),
            (
                Method::GET,
                "/nuget/v3/registration/my.lib/page/1.0.0/2.0.0.json",
                Op::RegistrationPage { id: i("my.lib"), lower: v("1.0.0"), upper: v("2.0.0") },
            ),
            (Method::GET, "/nuget/v3/registration/my.lib/1.0.0.json", Op::RegistrationLeaf { id: i("my.lib"), version: v("1.0.0") }),
            (Method::GET, "/nuget/v3/query", Op::Search),
            (Method::GET, "/nuget/v3/autocomplete", Op::Autocomplete),
            (Method::PUT, "/nuget/v2/package", Op::Push),
            (Method::PUT, "/nuget/v2/package/", Op::Push),
            (Method::PUT, "/nuget/v2/symbolpackage/", Op::PushSymbols),
            (Method::DELETE, "/nuget/v2/package/mylib/1.0.0", Op::Unlist { id: i("mylib"), version: v("1.0.0") }),
            (Method::POST, "/nuget/v2/package/mylib/1.0.0", Op::Relist { id: i("mylib"), version: v("1.0.0") }),
        ];
        for (m, p, op) in cases {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        assert_eq!(parse(&Method::GET, "/nuget/v3/index.json").expect("index").access(), Access::Open);
        assert_eq!(parse(&Method::PUT, "/nuget/v2/package/").expect("push").access(), Access::Write);
        for (m, p, status) in [
            (Method::GET, "/nuget/v3/flat/../x/index.json", 400u16),
            (Method::GET, "/nuget/v3/flat/a%2fb/index.json", 400),
            (Method::GET, "/nuget/v3/flat/a/1.0%00/a.1.0.nupkg", 400),
            (Method::GET, "/nuget/v3/flat/a/one/a.one.nupkg", 400),
            (Method::GET, "/nuget/v3/flat/a/1.0.0/b.1.0.0.nupkg", 404),
            (Method::GET, "/nuget/v3/flat/a/1.0.0/a.1.0.0.zip", 404),
            (Method::GET, "/nothing", 404),
            (Method::GET, "/nuget/v2/package", 405),
            (Method::PUT, "/nuget/v3/index.json", 405),
            (Method::GET, "/nuget/v2/package/a/1.0.0", 405),
        ] {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
    }
}
