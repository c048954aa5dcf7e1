//! Conda reads: `channeldata.json`, each subdir's repodata (JSON, `.zst`,
//! `.bz2`), package files, and one package's records.
//!
//! Local records and the upstream's (names that local packages or claims
//! hold left out) make one document, rendered once per change of either
//! and compressed once per rendering: a publish is in the very next read,
//! in every form. Every known subdir answers, empty when it holds nothing
//! (`noarch/` always exists). Sharded repodata is answered 404, so clients
//! fall back to `repodata.json`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::names::{self, FileName};
use super::op::Form;
use super::repodata::{self, ChannelData, LocalEntry, Record, Repodata};
use crate::access::Permission;
use crate::catalog::FileRow;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::serve::{LocalSet, Located, RequestCtx};
use crate::upstream::CacheKey;
use crate::upstream::artifacts::ExpectedDigest;
use crate::upstream::documents::CacheState;

const JSON: &str = "application/json";

/// The repodata record of a stored file: what its `index.json` said, with
/// the file's digests and size.
pub fn record_of(file: &FileRow) -> Option<Record> {
    let (_, base) = file.filename.split_once('/')?;
    let parsed = FileName::parse(base).ok()?;
    let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(&file.metadata) else { return None };
    body.insert("md5".into(), Value::from(file.md5.clone()));
    body.insert("sha256".into(), Value::from(file.sha256.clone()));
    body.insert("size".into(), Value::from(file.size));
    Some(Record { file: base.to_string(), name: parsed.name, format: parsed.format, body })
}

/// Every visible local record of the set (of `only` that subdir), by
/// subdir, in publish order.
fn local_records(set: &LocalSet, only: Option<&str>) -> BTreeMap<String, Vec<Record>> {
    let mut out: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for (part, row) in set.visible() {
        let yanked: HashMap<&str, bool> = part.listing.versions.iter().map(|v| (v.id.as_str(), v.yanked)).collect();
        for f in part.listing.files.iter().filter(|f| f.package_id == row.id) {
            if yanked.get(f.version_id.as_str()) != Some(&false) {
                continue;
            }
            let Some((subdir, _)) = f.filename.split_once('/') else { continue };
            if only.is_some_and(|o| o != subdir) {
                continue;
            }
            if let Some(r) = record_of(f) {
                out.entry(subdir.to_string()).or_default().push(r);
            }
        }
    }
    out
}

/// A document of the upstreams, `None` when there are none or none has it.
async fn upstream_doc(ctx: &RequestCtx, key: CacheKey, path: String) -> AppResult<Option<crate::upstream::documents::Served>> {
    ctx.document_if_any(ctx.doc_fetch(key, path, JSON)).await
}

/// An upstream subdir's repodata, parsed once per body.
async fn upstream_repodata(ctx: &RequestCtx, subdir: &str) -> AppResult<Option<(Arc<Repodata>, u64, CacheState)>> {
    let key = CacheKey::new("repodata").part(subdir);
    let Some(served) = upstream_doc(ctx, key, format!("{subdir}/repodata.json")).await? else { return Ok(None) };
    let parsed = ctx.parsed(&served.doc, |d| repodata::parse_repodata(&d.body)).await?;
    Ok(Some((parsed, served.doc.generation, served.state)))
}

async fn upstream_channeldata(ctx: &RequestCtx) -> AppResult<Option<(Arc<ChannelData>, u64, CacheState)>> {
    let Some(served) = upstream_doc(ctx, CacheKey::new("channeldata"), "channeldata.json".into()).await? else {
        return Ok(None);
    };
    let parsed = ctx.parsed(&served.doc, |d| repodata::parse_channeldata(&d.body)).await?;
    Ok(Some((parsed, served.doc.generation, served.state)))
}

/// What the rules withhold from this caller of an upstream subdir's records.
/// Judged once per fetched body (`generation`) and class of caller.
fn mask(ctx: &RequestCtx, repodata: &Repodata, generation: u64) -> Option<crate::serve::Mask> {
    ctx.rules_mask_of(generation, || repodata.records.iter().map(Record::candidate).collect())
}

/// The upstream versions of `name` (every subdir channeldata names) as the
/// rules see them.
pub async fn upstream_releases(ctx: &RequestCtx, name: &str) -> AppResult<Vec<crate::rules::Release>> {
    let mut out: Vec<crate::rules::Release> = Vec::new();
    let Some((channel, _, _)) = upstream_channeldata(ctx).await? else { return Ok(out) };
    for subdir in channel.subdirs_of(name) {
        if let Some((rd, _, _)) = upstream_repodata(ctx, &subdir).await? {
            for r in rd.records.iter().filter(|r| r.name == name) {
                let release = r.candidate().to_release();
                // A version's builds count as one: its earliest time.
                match out.iter_mut().find(|o| o.version == release.version) {
                    Some(o) => {
                        o.published_at = match (o.published_at, release.published_at) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        }
                    }
                    None => out.push(release),
                }
            }
        }
    }
    Ok(out)
}

/// A subdir's repodata in `form`.
pub async fn repodata(ctx: &RequestCtx, subdir: &str, form: Form, headers: &HeaderMap) -> AppResult<Response> {
    let set = Arc::new(ctx.local_set().await?);
    let upstream = upstream_repodata(ctx, subdir).await?;
    let generation = upstream.as_ref().map(|(_, g, _)| *g);
    let state = upstream.as_ref().map(|(_, _, s)| *s);
    let mask = upstream.as_ref().and_then(|(r, g, _)| mask(ctx, r, *g));
    // What the rules withhold is part of the rendering's key.
    let part = mask.as_ref().map_or_else(|| subdir.to_string(), |m| m.render_key(subdir));
    let for_render = Arc::clone(&set);
    let sub = subdir.to_string();
    let json = ctx.rendered_set(&set, "conda-repodata", generation, &part, move || {
        let local = local_records(&for_render, Some(&sub));
        let shadow = for_render.shadow();
        let mine = local.get(&sub).map(Vec::as_slice).unwrap_or(&[]);
        let allowed = |i: usize| mask.as_ref().is_none_or(|m| m.allows(i));
        Ok(repodata::render(&sub, mine, upstream.as_ref().map(|(r, _, _)| r.as_ref()), &|n| shadow.covers(n), &allowed))
    })
    .await?;
    let (doc, content_type) = match form {
        Form::Json => (json, JSON),
        Form::Zst => {
            let body = json.body.clone();
            let zst = ctx.rendered_set(&set, "conda-repodata-zst", generation, &part, move || {
                zstd::encode_all(body.as_ref(), 3).map_err(|e| AppError::internal(e.to_string()))
            });
            (zst.await?, "application/zstd")
        }
        Form::Bz2 => {
            let body = json.body.clone();
            let bz2 = ctx.rendered_set(&set, "conda-repodata-bz2", generation, &part, move || {
                let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
                std::io::Write::write_all(&mut enc, &body).map_err(|e| AppError::internal(e.to_string()))?;
                enc.finish().map_err(|e| AppError::internal(e.to_string()))
            });
            (bz2.await?, "application/x-bzip2")
        }
    };
    Ok(http::document(headers, &doc, content_type, state))
}

/// `channeldata.json`.
pub async fn channeldata(ctx: &RequestCtx, headers: &HeaderMap) -> AppResult<Response> {
    let set = Arc::new(ctx.local_set().await?);
    let upstream = upstream_channeldata(ctx).await?;
    let generation = upstream.as_ref().map(|(_, g, _)| *g);
    let state = upstream.as_ref().map(|(_, _, s)| *s);
    let for_render = Arc::clone(&set);
    let doc = ctx.rendered_set(&set, "conda-channeldata", generation, "", move || {
        let mut entries: BTreeMap<String, LocalEntry> = BTreeMap::new();
        for (subdir, records) in local_records(&for_render, None) {
            for r in records {
                let e = entries.entry(r.name.clone()).or_insert_with(|| LocalEntry {
                    name: r.name.clone(),
                    subdirs: Vec::new(),
                    latest: Map::new(),
                });
                if !e.subdirs.contains(&subdir) {
                    e.subdirs.push(subdir.clone());
                }
                let newer = e.latest.get("timestamp").and_then(Value::as_u64) <= r.body.get("timestamp").and_then(Value::as_u64);
                if e.latest.is_empty() || newer {
                    e.latest = r.body.clone();
                }
            }
        }
        let local: Vec<LocalEntry> = entries.into_values().collect();
        let shadow = for_render.shadow();
        Ok(repodata::render_channeldata(&local, upstream.as_ref().map(|(c, _, _)| c.as_ref()), &|n| shadow.covers(n)))
    })
    .await?;
    Ok(http::document(headers, &doc, JSON, state))
}

/// `{subdir}/{file}`: a local package's file, or the upstream's, verified
/// against the SHA-256 its repodata gives.
pub async fn file(ctx: &RequestCtx, subdir: &str, file: &FileName) -> AppResult<Response> {
    let base = file.file();
    if let Some(local) = ctx.read_local(&file.name, &file.name, Permission::ReleasesRead).await? {
        let stored = names::stored(subdir, &base);
        let row = local.view.file(&stored).ok_or_else(|| AppError::not_found(format!("{subdir}/{base} not found")))?;
        let yanked = local.view.versions.iter().find(|v| v.id == row.version_id).is_none_or(|v| v.yanked);
        if yanked {
            return Err(AppError::not_found(format!("{subdir}/{base} not found")));
        }
        return ctx.serve_local_file(&local, &stored).await;
    }
    if ctx.registry.upstreams.is_empty() {
        return Err(AppError::not_found(format!("{subdir}/{base} not found")));
    }
    if ctx.has_rules() {
        // Before the cache: a cached file is withheld as a fetched one.
        if let Some((rd, _, _)) = upstream_repodata(ctx, subdir).await?
            && let Some(record) = rd.find(&base)
        {
            ctx.rules_verdict(&record.candidate())?;
        }
    }
    let key = CacheKey::new("package").part(subdir).part(&base);
    ctx.upstream_artifact(key, "application/octet-stream", || async {
        let key = CacheKey::new("repodata").part(subdir);
        let path = format!("{subdir}/repodata.json");
        let Some(served) = upstream_doc(ctx, key, path).await? else {
            return Err(AppError::not_found(format!("{subdir}/{base} not found")));
        };
        let parsed = ctx.parsed(&served.doc, |d| repodata::parse_repodata(&d.body)).await?;
        let record = parsed.find(&base).ok_or_else(|| AppError::not_found(format!("{subdir}/{base} not found")))?;
        if ctx.has_rules() {
            ctx.rules_verdict(&record.candidate())?;
        }
        let url = crate::upstream::join_url(&served.doc.header.source, &format!("{subdir}/{base}"));
        // Every subdir's and build's file counts as its version's.
        Ok(Located::verified(url, record.sha256().map(ExpectedDigest::Sha256))?.of_release(&file.name, &file.version))
    })
    .await
}

/// `packages/{name}.json`: the package's records in every subdir that holds
/// it (the upstream's found through its `channeldata.json`).
pub async fn package(ctx: &RequestCtx, name: &str, headers: &HeaderMap) -> AppResult<Response> {
    let not_found = || AppError::not_found(format!("{name} not found"));
    // How the upstream documents were served: stale if any was.
    let mut state = None;
    let mut subdirs: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut add = |subdir: &str, r: &Record| {
        let entry = subdirs.entry(subdir.to_string()).or_default();
        let section = entry.entry(r.format.repodata_key()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = section {
            m.insert(r.file.clone(), Value::Object(r.body.clone()));
        }
    };
    if let Some(local) = ctx.read_local(name, name, Permission::ReleasesRead).await? {
        let live: HashMap<&str, bool> = local.view.versions.iter().map(|v| (v.id.as_str(), !v.yanked)).collect();
        for f in local.view.files.iter().filter(|f| live.get(f.version_id.as_str()) == Some(&true)) {
            if let (Some((subdir, _)), Some(r)) = (f.filename.split_once('/'), record_of(f)) {
                add(subdir, &r);
            }
        }
    } else if let Some((channel, _, cd_state)) = upstream_channeldata(ctx).await? {
        state = Some(cd_state);
        for subdir in channel.subdirs_of(name) {
            if let Some((rd, _, rd_state)) = upstream_repodata(ctx, &subdir).await? {
                if rd_state == CacheState::Stale {
                    state = Some(rd_state);
                }
                let records: Vec<&Record> = rd.records.iter().filter(|r| r.name == name).collect();
                let candidates: Vec<crate::rules::Candidate> = records.iter().map(|r| r.candidate()).collect();
                let withheld = ctx.rules_withheld(&candidates)?;
                for (r, c) in records.iter().zip(&candidates) {
                    if withheld.as_ref().is_none_or(|w| w.allows(c.version)) {
                        add(&subdir, r);
                    }
                }
            }
        }
    }
    if subdirs.is_empty() {
        return Err(not_found());
    }
    let body = serde_json::to_vec(&json!({ "name": name, "subdirs": subdirs })).map_err(|e| AppError::internal(e.to_string()))?;
    Ok(http::document(headers, &http::rendered(body), JSON, state))
}
