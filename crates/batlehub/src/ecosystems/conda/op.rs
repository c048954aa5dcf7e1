//! Every request conda clients (conda, mamba, pixi, rattler) and the user
//! guide's `curl` make of a channel, parsed into one [`Op`].

use axum::http::Method;

use super::names::{self, FileName};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

/// Which form of a subdir's repodata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    Zst,
    Bz2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `channeldata.json`.
    ChannelData,
    /// `{subdir}/repodata.json[.zst|.bz2]`, `{subdir}/current_repodata.json[...]`.
    Repodata { subdir: String, form: Form },
    /// `{subdir}/repodata_shards.msgpack.zst` and `{subdir}/shards/...`:
    /// sharded repodata is not served (404, clients fall back).
    Shards,
    /// `{subdir}/{name}-{version}-{build}.conda|.tar.bz2`.
    File { subdir: String, file: FileName },
    /// `packages/{name}.json`: one package's records in every subdir.
    Package { name: String },
    /// `POST {subdir}/` (the user guide), or `PUT {subdir}/{file}`.
    Upload { subdir: String, file: Option<FileName> },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::ChannelData => "channeldata",
            Op::Repodata { .. } => "repodata",
            Op::Shards => "shards",
            Op::File { .. } => "package-file",
            Op::Package { .. } => "package",
            Op::Upload { .. } => "upload",
        }
    }

    fn access(&self) -> Access {
        match self {
            Op::Upload { .. } => Access::Write,
            _ => Access::Read(Permission::ReleasesRead),
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::File { file, .. } => Some(file.name.clone()),
            Op::Upload { file: Some(file), .. } => Some(file.name.clone()),
            Op::Package { name } => Some(name.clone()),
            _ => None,
        }
    }
}

fn bad(e: String) -> AppError {
    AppError::BadRequest(e)
}

/// A path's token segment (`/t/{token}/...`, as conda clients send a
/// channel URL with a token in it) and the rest of the path.
pub fn split_token(raw: &str) -> Option<(&str, &str)> {
    let after = raw.strip_prefix("/t/")?;
    let cut = after.find('/').unwrap_or(after.len());
    Some((&after[..cut], &after[cut..]))
}

pub fn parse(method: &Method, raw: &str) -> Result<Op, AppError> {
    let raw = match split_token(raw) {
        Some(("", _)) => return Err(AppError::bad_request("an empty token in the path")),
        Some((_, rest)) => rest,
        None => raw,
    };
    let path = crate::serve::contract::decode_path(raw)?;
    let segs: Vec<&str> = path.split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let only = |allowed: bool, op: Op| if allowed { Ok(op) } else { Err(AppError::MethodNotAllowed) };
    match segs.as_slice() {
        ["channeldata.json"] => only(get, Op::ChannelData),
        ["packages", file] => {
            let name = file.strip_suffix(".json").ok_or_else(|| AppError::not_found("no such document"))?;
            names::check_name(name).map_err(bad)?;
            only(get, Op::Package { name: name.to_string() })
        }
        [subdir] | [subdir, ""] if method == Method::POST => {
            names::check_subdir(subdir).map_err(bad)?;
            Ok(Op::Upload { subdir: subdir.to_string(), file: None })
        }
        [subdir, rest @ ..] if names::SUBDIRS.contains(subdir) => {
            let subdir = subdir.to_string();
            match rest {
                ["repodata.json" | "current_repodata.json"] => only(get, Op::Repodata { subdir, form: Form::Json }),
                ["repodata.json.zst" | "current_repodata.json.zst"] => only(get, Op::Repodata { subdir, form: Form::Zst }),
                ["repodata.json.bz2" | "current_repodata.json.bz2"] => only(get, Op::Repodata { subdir, form: Form::Bz2 }),
                ["repodata_shards.msgpack.zst"] | ["shards", ..] => only(get, Op::Shards),
                [] | [""] => Err(if get { AppError::not_found("no such document") } else { AppError::MethodNotAllowed }),
                [file] => {
                    let file = FileName::parse(file).map_err(bad)?;
                    if method == Method::PUT {
                        return Ok(Op::Upload { subdir, file: Some(file) });
                    }
                    only(get, Op::File { subdir, file })
                }
                _ => Err(AppError::not_found("no such document")),
            }
        }
        [subdir, ..] if subdir.contains('-') && !subdir.ends_with(".json") => {
            Err(bad(names::check_subdir(subdir).err().unwrap_or_default()))
        }
        _ => Err(AppError::not_found("no such document")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let get = Method::GET;
        assert_eq!(parse(&get, "/channeldata.json").expect("op"), Op::ChannelData);
        assert_eq!(
            parse(&Method::HEAD, "/noarch/repodata.json.zst").expect("op"),
            Op::Repodata { subdir: "noarch".into(), form: Form::Zst }
        );
        assert_eq!(parse(&get, "/linux-64/repodata_shards.msgpack.zst").expect("op"), Op::Shards);
        assert!(matches!(parse(&get, "/linux-64/a-1.0-0.conda").expect("op"), Op::File { .. }));
        assert!(matches!(parse(&Method::POST, "/linux-64/").expect("op"), Op::Upload { file: None, .. }));
        assert!(matches!(parse(&Method::PUT, "/linux-64/a-1.0-0.conda").expect("op"), Op::Upload { file: Some(_), .. }));
        assert!(matches!(parse(&Method::POST, "/mars-64/"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&get, "/linux-64/x.zip"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&get, "/linux-64/../x"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse(&Method::DELETE, "/linux-64/repodata.json"), Err(AppError::MethodNotAllowed)));
        assert!(matches!(parse(&get, "/nothing"), Err(AppError::NotFound(_))));
        assert_eq!(parse(&get, "/t/bh_secret/channeldata.json").expect("op"), Op::ChannelData);
        assert!(matches!(parse(&get, "/t//channeldata.json"), Err(AppError::BadRequest(_))));
        assert_eq!(split_token("/t/abc/noarch/repodata.json"), Some(("abc", "/noarch/repodata.json")));
    }
}
