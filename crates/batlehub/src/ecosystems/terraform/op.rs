//! Every request Terraform (and OpenTofu) make of a registry, and the
//! uploads and yanks of private modules and providers, parsed into one
//! [`Op`].

use axum::http::Method;

use super::names::{self, Module, Platform, Provider};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `.well-known/terraform.json`: service discovery.
    Discovery,
    /// `v1/modules/{ns}/{name}/{system}/versions`.
    ModuleVersions { module: Module },
    /// `v1/modules/{ns}/{name}/{system}/{version}/download`: 204 and
    /// `X-Terraform-Get`.
    ModuleDownload { module: Module, version: String },
    /// `v1/modules/{ns}/{name}/{system}/{version}/archive.tar.gz`: the
    /// archive (a signed link, or read access).
    ModuleArchive { module: Module, version: String },
    /// `POST`/`PUT v1/modules/{ns}/{name}/{system}/{version}` with the
    /// `.tar.gz` as the body.
    ModuleUpload { module: Module, version: String },
    /// `v1/providers/{ns}/{type}/versions`.
    ProviderVersions { provider: Provider },
    /// `v1/providers/{ns}/{type}/{version}/download/{os}/{arch}`.
    ProviderDownload { provider: Provider, version: String, platform: Platform },
    /// `v1/providers/{ns}/{type}/{version}/archive/{file}.zip` (a signed
    /// link, or read access).
    ProviderArchive { provider: Provider, version: String, platform: Platform },
    /// `v1/providers/{ns}/{type}/{version}/SHA256SUMS[.sig]` (a signed
    /// link, or read access).
    Shasums { provider: Provider, version: String, signature: bool },
    /// `PUT v1/providers/{ns}/{type}/{version}/{os}/{arch}` with the zip as
    /// the body (`?protocols=5.0,6.0`, default 5.0).
    ProviderUpload { provider: Provider, version: String, platform: Platform },
    /// `DELETE v1/modules/{ns}/{name}/{system}/{version}` or
    /// `DELETE v1/providers/{ns}/{type}/{version}`: yank.
    Yank { key: String, display: String, version: String },
    /// The network mirror protocol: `{hostname}/{ns}/{type}/index.json`.
    MirrorIndex { hostname: String, provider: Provider },
    /// `{hostname}/{ns}/{type}/{version}.json`.
    MirrorVersion { hostname: String, provider: Provider, version: String },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::Discovery => "discovery",
            Op::ModuleVersions { .. } => "module-versions",
            Op::ModuleDownload { .. } => "module-download",
            Op::ModuleArchive { .. } => "module-archive",
            Op::ModuleUpload { .. } => "module-upload",
            Op::ProviderVersions { .. } => "provider-versions",
            Op::ProviderDownload { .. } => "provider-download",
            Op::ProviderArchive { .. } => "provider-archive",
            Op::Shasums { .. } => "shasums",
            Op::ProviderUpload { .. } => "provider-upload",
            Op::Yank { .. } => "yank",
            Op::MirrorIndex { .. } => "mirror-index",
            Op::MirrorVersion { .. } => "mirror-version",
        }
    }

    fn access(&self) -> Access {
        match self {
            Op::ModuleUpload { .. } | Op::ProviderUpload { .. } | Op::Yank { .. } => Access::Write,
            // Terraform reads discovery first, and fetches archives and
            // checksums without credentials: those check a signed link,
            // else read access, themselves.
            Op::Discovery | Op::ModuleArchive { .. } | Op::ProviderArchive { .. } | Op::Shasums { .. } => Access::Open,
            _ => Access::Read(Permission::ReleasesRead),
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::ModuleVersions { module }
            | Op::ModuleDownload { module, .. }
            | Op::ModuleArchive { module, .. }
            | Op::ModuleUpload { module, .. } => Some(module.key()),
            Op::ProviderVersions { provider }
            | Op::ProviderDownload { provider, .. }
            | Op::ProviderArchive { provider, .. }
            | Op::Shasums { provider, .. }
            | Op::ProviderUpload { provider, .. }
            | Op::MirrorIndex { provider, .. }
            | Op::MirrorVersion { provider, .. } => Some(provider.key()),
            Op::Yank { key, .. } => Some(key.clone()),
            Op::Discovery => None,
        }
    }
}

fn bad(e: String) -> AppError {
    AppError::BadRequest(e)
}

fn version(v: &str) -> Result<String, AppError> {
    names::check_version(v).map_err(bad)?;
    Ok(v.to_string())
}

fn hostname_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        && !h.starts_with(['.', '-'])
}

pub fn parse(method: &Method, raw: &str) -> Result<Op, AppError> {
    let path = crate::serve::contract::decode_path(raw)?;
    let segs: Vec<&str> = path.split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let only = |allowed: bool, op: Op| if allowed { Ok(op) } else { Err(AppError::MethodNotAllowed) };
    match segs.as_slice() {
        [".well-known", "terraform.json"] => only(get, Op::Discovery),
        ["v1", "modules", ns, name, system, rest @ ..] => {
            let module = Module::parse(ns, name, system).map_err(bad)?;
            match rest {
                ["versions"] => only(get, Op::ModuleVersions { module }),
                [v, "download"] => only(get, Op::ModuleDownload { module, version: version(v)? }),
                [v, "archive.tar.gz"] => only(get, Op::ModuleArchive { module, version: version(v)? }),
                [v] if *method == Method::POST || *method == Method::PUT => {
                    Ok(Op::ModuleUpload { module, version: version(v)? })
                }
                [v] if *method == Method::DELETE => {
                    Ok(Op::Yank { key: module.key(), display: module.path(), version: version(v)? })
                }
                [_] => Err(AppError::MethodNotAllowed),
                _ => Err(AppError::not_found("no such endpoint")),
            }
        }
        ["v1", "providers", ns, kind, rest @ ..] => {
            let provider = Provider::parse(ns, kind).map_err(bad)?;
            match rest {
                ["versions"] => only(get, Op::ProviderVersions { provider }),
                [v, "download", os, arch] => {
                    let platform = Platform::parse(os, arch).map_err(bad)?;
                    only(get, Op::ProviderDownload { provider, version: version(v)?, platform })
                }
                [v, "archive", file] => {
                    let v = version(v)?;
                    let platform = provider
                        .platform_of(&v, file)
                        .ok_or_else(|| AppError::not_found(format!("{file} is not a package of this provider")))?;
                    only(get, Op::ProviderArchive { provider, version: v, platform })
                }
                [v, "SHA256SUMS"] => only(get, Op::Shasums { provider, version: version(v)?, signature: false }),
                [v, "SHA256SUMS.sig"] => only(get, Op::Shasums { provider, version: version(v)?, signature: true }),
                [v, os, arch] => {
                    let platform = Platform::parse(os, arch).map_err(bad)?;
                    only(*method == Method::PUT, Op::ProviderUpload { provider, version: version(v)?, platform })
                }
                [v] => only(
                    *method == Method::DELETE,
                    Op::Yank { key: provider.key(), display: provider.path(), version: version(v)? },
                ),
                _ => Err(AppError::not_found("no such endpoint")),
            }
        }
        [host, ns, kind, file] if hostname_ok(host) && file.ends_with(".json") && *host != "v1" => {
            let provider = Provider::parse(ns, kind).map_err(bad)?;
            let hostname = host.to_ascii_lowercase();
            if *file == "index.json" {
                return only(get, Op::MirrorIndex { hostname, provider });
            }
            let v = file.strip_suffix(".json").unwrap_or(file);
            only(get, Op::MirrorVersion { hostname, provider, version: version(v)? })
        }
        _ => Err(AppError::not_found("no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let get = Method::GET;
        assert_eq!(parse(&get, "/.well-known/terraform.json").expect("op"), Op::Discovery);
        assert!(matches!(parse(&get, "/v1/modules/my-org/vpc/aws/versions").expect("op"), Op::ModuleVersions { .. }));
        assert!(matches!(parse(&get, "/v1/modules/my-org/vpc/aws/1.0.0/download").expect("op"), Op::ModuleDownload { .. }));
        assert!(matches!(parse(&Method::POST, "/v1/modules/my-org/vpc/aws/1.0.0").expect("op"), Op::ModuleUpload { .. }));
        assert!(matches!(parse(&Method::DELETE, "/v1/modules/my-org/vpc/aws/1.0.0").expect("op"), Op::Yank { .. }));
        assert!(matches!(
            parse(&get, "/v1/providers/my-org/mytool/1.0.0/download/linux/amd64").expect("op"),
            Op::ProviderDownload { .. }
        ));
        assert!(matches!(
            parse(&get, "/v1/providers/my-org/mytool/1.0.0/archive/terraform-provider-mytool_1.0.0_linux_amd64.zip")
                .expect("op"),
            Op::ProviderArchive { .. }
        ));
        assert!(matches!(
            parse(&get, "/v1/providers/my-org/mytool/1.0.0/SHA256SUMS.sig").expect("op"),
            Op::Shasums { signature: true, .. }
        ));
        assert!(matches!(
            parse(&Method::PUT, "/v1/providers/my-org/mytool/1.0.0/linux/amd64").expect("op"),
            Op::ProviderUpload { .. }
        ));
        assert!(matches!(
            parse(&get, "/registry.example/hashicorp/null/index.json").expect("op"),
            Op::MirrorIndex { .. }
        ));
        assert!(matches!(
            parse(&get, "/registry.example/hashicorp/null/3.2.1.json").expect("op"),
            Op::MirrorVersion { .. }
        ));
        assert!(matches!(parse(&get, "/v1/providers/my-org/My_Tool/versions"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&get, "/v1/modules/a/b/c/1.0/download"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&get, "/v1/providers/a/b/1.0.0/archive/other.zip"), Err(AppError::NotFound(_))));
        assert!(matches!(parse(&get, "/v1/modules/a/../c/versions"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&Method::POST, "/v1/providers/a/b/versions"), Err(AppError::MethodNotAllowed)));
        assert!(matches!(parse(&get, "/nothing"), Err(AppError::NotFound(_))));
    }
}
