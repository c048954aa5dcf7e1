//! Maven: the Maven 2 repository layout under `/proxy/{registry}/`, for mvn
//! and Gradle.
//!
//! | Request | Op |
//! |---|---|
//! | `GET/HEAD /{group path}/{artifactId}/{version}/{file}` | a file (pom, jar, sources, `.module`, `.asc`, any classifier) |
//! | `GET … {file}.md5/.sha1/.sha256/.sha512` | its checksum, from the digests computed when it was stored |
//! | `GET …/maven-metadata.xml[.sha1…]` | metadata of a SNAPSHOT version, an artifact or a group (plugins), generated |
//! | `PUT /{group path}/{artifactId}/{version}/{file}` | `mvn deploy`: releases immutable (409), SNAPSHOT builds kept |
//! | `PUT … {file}.sha1` (and the others) | checked against the stored file (400 on mismatch), not stored |
//! | `PUT …/maven-metadata.xml[.sha1…]` | checked and dropped: the served metadata is always generated |
//!
//! A package is an artifact (`groupId:artifactId`), keyed by its folder
//! (`com/acme/app`) so that a claim on a groupId covers that group and its
//! subgroups only. Errors are plain text. Options
//! (`[registries.options]`): `snapshot_builds_kept = N` keeps the newest N
//! builds of each SNAPSHOT version. Files: [`op`], [`names`]
//! (coordinates, file names, version order), [`pom`] (XML without entities),
//! [`read`], [`write`], [`setup`].

pub mod names;
pub mod op;
pub mod pom;
pub mod read;
pub mod setup;
pub mod write;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;

use self::names::Coordinates;
use self::op::Op;
use crate::error::{AppError, AppResult};
use crate::serve::{Ecosystem, Head, RequestCtx, contract, contract::check_prefix};
use crate::setup::{Snippet, Target};
use crate::upstream::documents::DocFetch;

/// The Maven 2 repository layout.
pub struct Maven;

impl Ecosystem for Maven {
    const ENFORCES_RULES: bool = true;
    const OSV: Option<crate::rules::OsvName> = Some(crate::rules::OsvName { ecosystem: "Maven", purl_type: "maven" });

    fn upstream_releases<'a>(
        ctx: &'a RequestCtx,
        name: &'a str,
    ) -> impl std::future::Future<Output = AppResult<Vec<crate::rules::Release>>> + Send + 'a {
        read::upstream_releases(ctx, name)
    }

    fn file_entry(
        registry_url: &str,
        package: &crate::catalog::PackageRow,
        version: &crate::catalog::VersionRow,
        file: &crate::catalog::FileRow,
    ) -> crate::serve::FileEntry {
        crate::serve::FileEntry {
            url: Some(format!("{registry_url}/{}/{}/{}", package.name, version.version, file.filename)),
            ..Default::default()
        }
    }

    type Op = Op;

    fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
        names::compare_versions(a, b)
    }

    fn parse(head: &Head<'_>) -> AppResult<Op> {
        op::parse(head.method, head.path)
    }

    async fn serve(ctx: &RequestCtx, op: &Op, parts: &Parts, body: Body) -> AppResult<Response> {
        match op {
            Op::File { file, checksum } => read::file(ctx, file, *checksum).await,
            Op::Metadata { dir, checksum } => read::metadata(ctx, dir, *checksum, &parts.headers).await,
            Op::Put { file } => write::put(ctx, file, parts, body).await,
            Op::PutChecksum { file, checksum } => write::put_checksum(ctx, file, *checksum, body).await,
            Op::PutMetadata { checksum, .. } => write::put_metadata(*checksum, body).await,
        }
    }

    /// Plain text: mvn prints the status line and the reason.
    fn render_error(err: &AppError) -> Response {
        contract::plain_error(err, true)
    }

    fn normalize_name(name: &str) -> Option<String> {
        Coordinates::parse(name).ok().map(|c| c.key())
    }

    /// A groupId (`com.mycompany`) or its folder (`com/mycompany/`): the
    /// group and its subgroups, as `com/mycompany/`.
    fn normalize_prefix(prefix: &str) -> Result<String, String> {
        check_prefix(prefix)?;
        let group = prefix.trim_end_matches(['/', '.']).replace('/', ".");
        let ok = !group.is_empty()
            && group.split('.').all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')));
        if !ok {
            return Err(format!("namespace prefix `{prefix}` is not a groupId (com.mycompany)"));
        }
        Ok(format!("{}/", group.replace('.', "/")).to_ascii_lowercase())
    }

    fn upstream_listings(ctx: &RequestCtx, name: &str) -> AppResult<Vec<DocFetch>> {
        let coords = Coordinates::parse(name).map_err(AppError::BadRequest)?;
        Ok(vec![read::artifact_listing(ctx, &coords)])
    }

    fn snippets(target: &Target) -> Vec<Snippet> {
        setup::snippets(target)
    }

    fn install_command(target: &Target, package: &str) -> String {
        setup::install_command(target, package)
    }

    fn check_options(options: &toml::Table) -> Result<(), String> {
        for (key, value) in options {
            match (key.as_str(), value) {
                ("snapshot_builds_kept", toml::Value::Integer(n)) if *n >= 1 => {}
                ("snapshot_builds_kept", _) => return Err("`snapshot_builds_kept` is a number of builds, 1 or more".into()),
                (other, _) => return Err(format!("unknown option `{other}` for a maven registry")),
            }
        }
        Ok(())
    }
}
