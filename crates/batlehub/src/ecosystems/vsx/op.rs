//! Every request VS Code (the gallery protocol), `ovsx` (the OpenVSX REST
//! API) and the user guide's `curl` make of an extension registry, parsed
//! into one [`Op`].

use axum::http::Method;

use super::names::{self, Asset, ExtId};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

/// A version, or the newest one (`latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    Exact(String),
    Latest,
}

impl Version {
    fn parse(v: &str) -> Result<Version, AppError> {
        if v == "latest" {
            return Ok(Version::Latest);
        }
        names::check_version(v).map_err(AppError::BadRequest)?;
        Ok(Version::Exact(v.to_string()))
    }

    pub fn exact(&self) -> Option<&str> {
        match self {
            Version::Exact(v) => Some(v),
            Version::Latest => None,
        }
    }
}

/// What a file request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Vsix,
    /// The VSIX's SHA-256 in hex (OpenVSX's `files.sha256`).
    Sha256,
    Asset(Asset),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A release's VSIX, one of its assets or its digest: the guide's
    /// `{id}/{version}/vsix`, the gallery's `vspackage` and asset URLs,
    /// OpenVSX's `file/` URLs.
    File { id: ExtId, version: Version, platform: Option<String>, want: Want },
    /// `PUT {id}/{version}/vsix` (the user guide; `?targetPlatform=` optional).
    Put { id: ExtId, version: String, platform: Option<String> },
    /// `DELETE {id}/{version}/vsix`: yank the version.
    Yank { id: ExtId, version: String },
    /// `POST api/-/publish?token=` (`ovsx publish`).
    Publish,
    /// `GET api/{namespace}/{extension}[/{platform}][/{version}]`.
    Extension { id: ExtId, platform: Option<String>, version: Version },
    /// `GET api/{namespace}`.
    Namespace { namespace: String },
    /// `GET api/-/search?query=...`.
    Search { params: Vec<(String, String)> },
    /// `GET api/-/query?extensionId=...`.
    Query { params: Vec<(String, String)> },
    /// `POST .../extensionquery` (the gallery protocol).
    GalleryQuery,
    /// `GET vscode/item?itemName={id}`: the extension's page.
    Item { id: ExtId },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::File { want: Want::Vsix, .. } => "vsix",
            Op::File { .. } => "asset",
            Op::Put { .. } => "upload",
            Op::Yank { .. } => "yank",
            Op::Publish => "publish",
            Op::Extension { .. } => "extension",
            Op::Namespace { .. } => "namespace",
            Op::Search { .. } => "search",
            Op::Query { .. } => "query",
            Op::GalleryQuery => "extensionquery",
            Op::Item { .. } => "item",
        }
    }

    fn access(&self) -> Access {
        match self {
            Op::Put { .. } | Op::Yank { .. } | Op::Publish => Access::Write,
            _ => Access::Read(Permission::ReleasesRead),
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::File { id, .. } | Op::Put { id, .. } | Op::Yank { id, .. } | Op::Extension { id, .. } | Op::Item { id } => {
                Some(id.display())
            }
            _ => None,
        }
    }
}

fn bad(e: String) -> AppError {
    AppError::BadRequest(e)
}

/// The query's pairs, decoded.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn platform_param(params: &[(String, String)]) -> Result<Option<String>, AppError> {
    match params.iter().find(|(k, _)| k == "targetPlatform").map(|(_, v)| v.as_str()) {
        None | Some("") => Ok(None),
        Some(p) => {
            names::check_platform(p).map_err(bad)?;
            Ok(Some(p.to_string()))
        }
    }
}

fn is_platform(s: &str) -> bool {
    names::PLATFORMS.contains(&s)
}

/// What `file/{name}` names: the VSIX, its digest or an asset.
fn want_of(file: &str) -> Result<Want, AppError> {
    if file.ends_with(".vsix") {
        return Ok(Want::Vsix);
    }
    if file.ends_with(".sha256") {
        return Ok(Want::Sha256);
    }
    Asset::from_file_name(file).map(Want::Asset).ok_or_else(|| AppError::not_found(format!("no file {file}")))
}

/// `unpkg/{p}/{n}/{v}/{path}`: the assets under their path in the VSIX.
fn want_of_path(path: &[&str]) -> Result<Want, AppError> {
    let rest = match path {
        ["extension", rest @ ..] => rest,
        rest => rest,
    };
    match rest {
        [file] => {
            let lower = file.to_ascii_lowercase();
            let asset = match lower.as_str() {
                "package.json" => Asset::Manifest,
                "readme.md" => Asset::Readme,
                "changelog.md" => Asset::Changelog,
                "license" | "license.txt" | "license.md" => Asset::License,
                _ => return Err(AppError::not_found(format!("{file} is not served"))),
            };
            Ok(Want::Asset(asset))
        }
        _ => Err(AppError::not_found("only the extension's manifest, README, changelog and licence are served")),
    }
}

fn gallery(method: &Method, segs: &[&str], params: &[(String, String)]) -> Result<Op, AppError> {
    let get = method == Method::GET || method == Method::HEAD;
    match segs {
        ["extensionquery"] if method == Method::POST => Ok(Op::GalleryQuery),
        ["extensionquery"] => Err(AppError::MethodNotAllowed),
        ["publishers", p, "vsextensions", n, v, "vspackage"] if get => Ok(Op::File {
            id: ExtId::of(p, n).map_err(bad)?,
            version: Version::parse(v)?,
            platform: platform_param(params)?,
            want: Want::Vsix,
        }),
        ["publishers", _, "vsextensions", _, _, "vspackage"] => Err(AppError::MethodNotAllowed),
        _ => Err(AppError::not_found("no such gallery endpoint")),
    }
}

pub fn parse(method: &Method, raw: &str, query: Option<&str>) -> Result<Op, AppError> {
    let path = crate::serve::contract::decode_path(raw)?;
    let segs: Vec<&str> = path.split('/').collect();
    let params = query_pairs(query);
    let get = method == Method::GET || method == Method::HEAD;
    let only = |allowed: bool, op: Op| if allowed { Ok(op) } else { Err(AppError::MethodNotAllowed) };
    match segs.as_slice() {
        [id, version, "vsix"] => {
            let id = ExtId::parse(id).map_err(bad)?;
            let platform = platform_param(&params)?;
            if *method == Method::PUT || *method == Method::DELETE {
                names::check_version(version).map_err(bad)?;
                let version = version.to_string();
                return Ok(if *method == Method::PUT { Op::Put { id, version, platform } } else { Op::Yank { id, version } });
            }
            only(get, Op::File { id, version: Version::parse(version)?, platform, want: Want::Vsix })
        }
        ["api", "-", "publish"] => only(method == Method::POST, Op::Publish),
        ["api", "-", "search"] => only(get, Op::Search { params }),
        ["api", "-", "query"] => only(get, Op::Query { params }),
        ["api", "-", ..] => Err(AppError::not_found("no such endpoint")),
        ["api", namespace] => {
            ExtId::of(namespace, "x").map_err(|_| bad(format!("invalid namespace `{namespace}`")))?;
            only(get, Op::Namespace { namespace: namespace.to_string() })
        }
        ["api", ns, ext, rest @ ..] => {
            let id = ExtId::of(ns, ext).map_err(bad)?;
            let (platform, rest) = match rest {
                [p, rest @ ..] if is_platform(p) => (Some(p.to_string()), rest),
                _ => (None, rest),
            };
            match rest {
                [] => only(get, Op::Extension { id, platform, version: Version::Latest }),
                [v] => only(get, Op::Extension { id, platform, version: Version::parse(v)? }),
                [v, "file", file] => {
                    only(get, Op::File { id, version: Version::parse(v)?, platform, want: want_of(file)? })
                }
                _ => Err(AppError::not_found("no such endpoint")),
            }
        }
        ["vscode", "gallery", rest @ ..] | ["_apis", "public", "gallery", rest @ ..] => gallery(method, rest, &params),
        ["extensionquery"] => gallery(method, &segs, &params),
        ["vscode", "asset", p, n, v, asset_type, ..] => {
            let id = ExtId::of(p, n).map_err(bad)?;
            let want = if asset_type.eq_ignore_ascii_case("Microsoft.VisualStudio.Services.VSIXPackage") {
                Want::Vsix
            } else {
                Want::Asset(
                    Asset::from_gallery_type(asset_type)
                        .ok_or_else(|| AppError::not_found(format!("no asset {asset_type}")))?,
                )
            };
            only(get, Op::File { id, version: Version::parse(v)?, platform: platform_param(&params)?, want })
        }
        ["vscode", "unpkg", p, n, v, path @ ..] => {
            let id = ExtId::of(p, n).map_err(bad)?;
            let want = want_of_path(path)?;
            only(get, Op::File { id, version: Version::parse(v)?, platform: platform_param(&params)?, want })
        }
        ["vscode", "item"] => {
            let name = params.iter().find(|(k, _)| k == "itemName").map(|(_, v)| v.as_str()).unwrap_or("");
            only(get, Op::Item { id: ExtId::parse(name).map_err(bad)? })
        }
        _ => Err(AppError::not_found("no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ExtId {
        ExtId::parse(s).expect("id")
    }

    #[test]
    fn paths_parse() {
        let get = Method::GET;
        assert_eq!(
            parse(&get, "/my-org.ext/1.0.0/vsix", None).expect("op"),
            Op::File { id: id("my-org.ext"), version: Version::Exact("1.0.0".into()), platform: None, want: Want::Vsix }
        );
        assert!(matches!(parse(&get, "/my-org.ext/latest/vsix", None).expect("op"), Op::File { version: Version::Latest, .. }));
        assert!(matches!(
            parse(&Method::PUT, "/my-org.ext/1.0.0/vsix", Some("targetPlatform=linux-x64")).expect("op"),
            Op::Put { platform: Some(_), .. }
        ));
        assert!(matches!(parse(&Method::DELETE, "/my-org.ext/1.0.0/vsix", None).expect("op"), Op::Yank { .. }));
        assert_eq!(parse(&Method::POST, "/api/-/publish", Some("token=x")).expect("op"), Op::Publish);
        assert!(matches!(
            parse(&get, "/api/my-org/ext/linux-x64/1.0.0", None).expect("op"),
            Op::Extension { platform: Some(_), version: Version::Exact(_), .. }
        ));
        assert!(matches!(
            parse(&get, "/api/my-org/ext/1.0.0/file/my-org.ext-1.0.0.vsix", None).expect("op"),
            Op::File { want: Want::Vsix, .. }
        ));
        assert!(matches!(
            parse(&get, "/api/my-org/ext/1.0.0/file/README.md", None).expect("op"),
            Op::File { want: Want::Asset(Asset::Readme), .. }
        ));
        assert_eq!(parse(&Method::POST, "/vscode/gallery/extensionquery", None).expect("op"), Op::GalleryQuery);
        assert_eq!(parse(&Method::POST, "/extensionquery", None).expect("op"), Op::GalleryQuery);
        assert!(matches!(
            parse(&get, "/_apis/public/gallery/publishers/p/vsextensions/n/1.0.0/vspackage", None).expect("op"),
            Op::File { want: Want::Vsix, .. }
        ));
        assert!(matches!(
            parse(&get, "/vscode/asset/p/n/1.0.0/Microsoft.VisualStudio.Services.Icons.Default", None).expect("op"),
            Op::File { want: Want::Asset(Asset::Icon), .. }
        ));
        assert!(matches!(
            parse(&get, "/vscode/unpkg/p/n/1.0.0/extension/package.json", None).expect("op"),
            Op::File { want: Want::Asset(Asset::Manifest), .. }
        ));
        assert!(matches!(parse(&get, "/my-org.ext/1.0/vsix", None), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&get, "/bad/1.0.0/vsix", None), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&get, "/a.b/1.0.0/vsix", Some("targetPlatform=mars")), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&get, "/a.b/../vsix", None), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&Method::POST, "/a.b/1.0.0/vsix", None), Err(AppError::MethodNotAllowed)));
        assert!(matches!(parse(&get, "/extensionquery", None), Err(AppError::MethodNotAllowed)));
        assert!(matches!(parse(&get, "/nothing", None), Err(AppError::NotFound(_))));
    }
}
