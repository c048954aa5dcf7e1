//! Every request mvn and Gradle make of a Maven 2 repository, parsed into
//! one [`Op`].
//!
//! `{group as path}/{artifactId}/{version}/{file}` is a file of a version
//! (with `.md5`, `.sha1`, `.sha256`, `.sha512` for its checksums);
//! `.../maven-metadata.xml` is the metadata of a group (plugins), an
//! artifact (versions) or a SNAPSHOT version (builds), told apart when
//! served.

use axum::http::Method;

use super::names::{Checksum, Coordinates, FileName, check_version, parse_file};
use crate::access::Permission;
use crate::error::AppError;
use crate::serve::{Access, Operation};

pub const METADATA: &str = "maven-metadata.xml";

/// A file of a version folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFile {
    pub coords: Coordinates,
    pub version: String,
    pub filename: String,
    pub parsed: FileName,
}

impl VersionFile {
    /// The path of the file under the repository root (no leading `/`).
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.coords.key(), self.version, self.filename)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A file, or (`checksum`) one of its checksums.
    File { file: VersionFile, checksum: Option<Checksum> },
    /// `maven-metadata.xml` (or its checksum) in the folder `dir` (path
    /// segments).
    Metadata { dir: Vec<String>, checksum: Option<Checksum> },
    /// Deploy a file.
    Put { file: VersionFile },
    /// A deployed file's checksum, checked against what is stored.
    PutChecksum { file: VersionFile, checksum: Checksum },
    /// mvn deploys metadata (and its checksums) too: checked, then left for
    /// the generated one.
    PutMetadata { dir: Vec<String>, checksum: Option<Checksum> },
}

impl Operation for Op {
    fn audit_name(&self) -> &'static str {
        match self {
            Op::File { .. } => "file",
            Op::Metadata { .. } => "metadata",
            Op::Put { .. } => "deploy",
            Op::PutChecksum { .. } => "deploy-checksum",
            Op::PutMetadata { .. } => "deploy-metadata",
        }
    }

    fn access(&self) -> Access {
        match self {
            Op::File { file, checksum: None } => Access::Read(file_permission(&file.parsed)),
            Op::File { .. } | Op::Metadata { .. } => Access::Read(Permission::ReleasesRead),
            Op::Put { .. } | Op::PutChecksum { .. } | Op::PutMetadata { .. } => Access::Write,
        }
    }

    fn package(&self) -> Option<String> {
        match self {
            Op::File { file, .. } | Op::Put { file } | Op::PutChecksum { file, .. } => Some(file.coords.key()),
            Op::Metadata { .. } | Op::PutMetadata { .. } => None,
        }
    }
}

/// Source jars need `source:read`; every other file is a release asset.
pub fn file_permission(f: &FileName) -> Permission {
    match f.classifier.as_deref() {
        Some("sources") | Some("test-sources") => Permission::SourceRead,
        _ => Permission::ReleasesRead,
    }
}

/// The version file at `segs` (group segments, artifactId, version, file).
pub fn version_file(segs: &[&str], filename: &str) -> Result<VersionFile, AppError> {
    let [group @ .., artifact, version] = segs else {
        return Err(AppError::not_found("no such path: a file is {group path}/{artifactId}/{version}/{file}"));
    };
    if group.is_empty() {
        return Err(AppError::not_found("no such path: a file is {group path}/{artifactId}/{version}/{file}"));
    }
    let coords = Coordinates::new(&group.join("."), artifact).map_err(AppError::BadRequest)?;
    check_version(version).map_err(AppError::BadRequest)?;
    let parsed = parse_file(artifact, version, filename).map_err(AppError::BadRequest)?;
    Ok(VersionFile { coords, version: version.to_string(), filename: filename.to_string(), parsed })
}

pub fn parse(method: &Method, raw: &str) -> Result<Op, AppError> {
    let path = crate::serve::contract::decode_path(raw)?;
    let segs: Vec<&str> = path.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(AppError::not_found("no such path"));
    }
    let Some((name, dir)) = segs.split_last() else { return Err(AppError::not_found("no such path")) };
    let (base, checksum) = match Checksum::split(name) {
        Some((base, c)) => (base, Some(c)),
        None => (*name, None),
    };
    let get = method == Method::GET || method == Method::HEAD;
    let put = method == Method::PUT;
    if base == METADATA {
        let valid = !dir.is_empty()
            && dir.iter().all(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+')));
        if !valid {
            return Err(AppError::bad_request("invalid metadata path"));
        }
        let dir: Vec<String> = dir.iter().map(|s| s.to_string()).collect();
        return match (get, put) {
            (true, _) => Ok(Op::Metadata { dir, checksum }),
            (_, true) => Ok(Op::PutMetadata { dir, checksum }),
            _ => Err(AppError::MethodNotAllowed),
        };
    }
    let file = version_file(dir, base)?;
    match (get, put, checksum) {
        (true, _, _) => Ok(Op::File { file, checksum }),
        (_, true, None) => Ok(Op::Put { file }),
        (_, true, Some(checksum)) => Ok(Op::PutChecksum { file, checksum }),
        _ => Err(AppError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(g: &str, a: &str, v: &str, f: &str) -> VersionFile {
        let mut segs: Vec<&str> = g.split('.').collect();
        segs.push(a);
        segs.push(v);
        version_file(&segs, f).expect("file")
    }

    #[test]
    fn route_table() {
        let jar = file("com.acme", "app", "1.0", "app-1.0.jar");
        assert_eq!(jar.path(), "com/acme/app/1.0/app-1.0.jar");
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::GET, "/com/acme/app/1.0/app-1.0.jar", Op::File { file: jar.clone(), checksum: None }),
            (Method::HEAD, "/com/acme/app/1.0/app-1.0.jar.sha1", Op::File { file: jar.clone(), checksum: Some(Checksum::Sha1) }),
            (Method::PUT, "/com/acme/app/1.0/app-1.0.jar", Op::Put { file: jar.clone() }),
            (Method::PUT, "/com/acme/app/1.0/app-1.0.jar.md5", Op::PutChecksum { file: jar.clone(), checksum: Checksum::Md5 }),
            (
                Method::GET,
                "/com/acme/app/maven-metadata.xml",
                Op::Metadata { dir: vec!["com".into(), "acme".into(), "app".into()], checksum: None },
            ),
            (
                Method::GET,
                "/com/acme/app/1.0-SNAPSHOT/maven-metadata.xml.sha256",
                Op::Metadata {
                    dir: vec!["com".into(), "acme".into(), "app".into(), "1.0-SNAPSHOT".into()],
                    checksum: Some(Checksum::Sha256),
                },
            ),
            (Method::PUT, "/com/acme/app/maven-metadata.xml", Op::PutMetadata { dir: vec!["com".into(), "acme".into(), "app".into()], checksum: None }),
            (
                Method::GET,
                "/com/acme/app/1.0-SNAPSHOT/app-1.0-20261129.041500-2-sources.jar",
                Op::File { file: file("com.acme", "app", "1.0-SNAPSHOT", "app-1.0-20261129.041500-2-sources.jar"), checksum: None },
            ),
        ];
        for (m, p, op) in cases {
            assert_eq!(parse(&m, p).unwrap_or_else(|e| panic!("{m} {p}: {e}")), op, "{m} {p}");
        }
        for (m, p, status) in [
            (Method::GET, "/com/acme/../app/1.0/app-1.0.jar", 400u16),
            (Method::GET, "/com/acme/app/1.0/other-1.0.jar", 400),
            (Method::GET, "/com/acme/app/1.0/app-2.0.jar", 400),
            (Method::GET, "/app/1.0/app-1.0.jar", 404),
            (Method::GET, "/com//app/1.0/app-1.0.jar", 404),
            (Method::GET, "/com/ac%20me/app/1.0/app-1.0.jar", 400),
            (Method::DELETE, "/com/acme/app/1.0/app-1.0.jar", 405),
            (Method::POST, "/com/acme/app/maven-metadata.xml", 405),
        ] {
            assert_eq!(parse(&m, p).expect_err(p).status().as_u16(), status, "{m} {p}");
        }
        let sources = file("com.acme", "app", "1.0", "app-1.0-sources.jar");
        assert_eq!(Op::File { file: sources, checksum: None }.access(), Access::Read(Permission::SourceRead));
        assert_eq!(Op::File { file: jar, checksum: None }.access(), Access::Read(Permission::ReleasesRead));
    }
}
