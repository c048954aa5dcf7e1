//! Reading the OSV records of `advisories` rules: a folder of JSON files, a
//! zip of them (OSV's export format), or such a zip over HTTP(S), read
//! again on the rule's schedule. A read builds a whole new index, swapped
//! in when complete ([`crate::rules::AdvisoryCell`]); a failed read keeps
//! the last good one and is logged once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::catalog::now_ms;
use crate::rules::advisories::{IndexBuilder, MAX_RECORD_BYTES};
use crate::rules::{AdvisoryIndex, AdvisoryRule, Source};

/// The largest advisory export downloaded (OSV's largest is a few hundred MiB).
pub const MAX_DOWNLOAD_BYTES: u64 = 4 << 30;

/// The longest a download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// After a failed read, the next try comes this soon (or at the rule's
/// `refresh`, if sooner).
const RETRY: Duration = Duration::from_secs(60);

/// What one read of a source gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSummary {
    pub records: usize,
    pub packages: usize,
    pub unreadable: usize,
}

/// Read the rule's source now and put what it holds in place.
pub async fn refresh(rule: &AdvisoryRule, client: &reqwest::Client) -> anyhow::Result<ReadSummary> {
    let index = read(rule, client).await?;
    let summary = ReadSummary { records: index.records, packages: index.packages(), unreadable: index.unreadable };
    rule.data.set(index);
    Ok(summary)
}

async fn read(rule: &AdvisoryRule, client: &reqwest::Client) -> anyhow::Result<AdvisoryIndex> {
    let builder = IndexBuilder::new(rule.target);
    match &rule.source {
        Source::Folder(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_folder(builder, &path)).await.context("reading advisories")?
        }
        Source::Zip(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_zip(builder, &path)).await.context("reading advisories")?
        }
        Source::Url(url) => {
            let file = download(client, url).await?;
            let path = file.path.clone();
            let read = tokio::task::spawn_blocking(move || read_zip(builder, &path)).await;
            drop(file);
            read.context("reading advisories")?
        }
    }
}

fn read_folder(mut builder: IndexBuilder, root: &Path) -> anyhow::Result<AdvisoryIndex> {
    if !root.is_dir() {
        bail!("{} is not a folder of OSV records", root.display());
    }
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let kind = entry.file_type().with_context(|| format!("reading {}", entry.path().display()))?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && is_json(&path.to_string_lossy()) {
                let mut bytes = Vec::new();
                let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                file.take(MAX_RECORD_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)
                    .with_context(|| format!("reading {}", path.display()))?;
                if let Err(e) = builder.add(&bytes) {
                    tracing::debug!(file = %path.display(), error = %e, "skipping a file that is not an OSV record");
                }
            }
        }
    }
    Ok(builder.finish(now_ms()))
}

fn is_json(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".json")
}

fn read_zip(mut builder: IndexBuilder, path: &Path) -> anyhow::Result<AdvisoryIndex> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a zip of OSV records", path.display()))?;
    let mut bytes = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).with_context(|| format!("reading entry {i} of {}", path.display()))?;
        if !entry.is_file() || !is_json(entry.name()) {
            continue;
        }
        bytes.clear();
        let name = entry.name().to_string();
        // Read no more than a record may be, whatever the entry claims.
        entry
            .take(MAX_RECORD_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {name} in {}", path.display()))?;
        if let Err(e) = builder.add(&bytes) {
            tracing::debug!(entry = %name, error = %e, "skipping an entry that is not an OSV record");
        }
    }
    Ok(builder.finish(now_ms()))
}

/// A downloaded export, removed when dropped.
struct TempFile {
    path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn download(client: &reqwest::Client, url: &str) -> anyhow::Result<TempFile> {
    let response = client
        .get(url)
        .timeout(DOWNLOAD_TIMEOUT)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("fetching {url}: {}", super::with_causes(&e)))?;
    if !response.status().is_success() {
        bail!("fetching {url}: the server answered {}", response.status());
    }
    if response.content_length().is_some_and(|n| n > MAX_DOWNLOAD_BYTES) {
        bail!("{url} is larger than {MAX_DOWNLOAD_BYTES} bytes");
    }
    let path = std::env::temp_dir().join(format!("batlehub-osv-{}.zip", uuid::Uuid::new_v4()));
    let file = TempFile { path };
    let mut out =
        tokio::fs::File::create(&file.path).await.with_context(|| format!("creating {}", file.path.display()))?;
    let mut written: u64 = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| anyhow::anyhow!("fetching {url}: {}", super::with_causes(&e)))?;
        written += chunk.len() as u64;
        if written > MAX_DOWNLOAD_BYTES {
            bail!("{url} is larger than {MAX_DOWNLOAD_BYTES} bytes");
        }
        out.write_all(&chunk).await.with_context(|| format!("writing {}", file.path.display()))?;
    }
    out.flush().await.with_context(|| format!("writing {}", file.path.display()))?;
    Ok(file)
}

/// Keep `rule`'s advisories current: read its source every `refresh`
/// (sooner after a failure), for as long as `alive` says the server runs.
pub fn spawn_refresher<W: Send + Sync + 'static>(
    registry: String,
    rule: AdvisoryRule,
    client: reqwest::Client,
    alive: std::sync::Weak<W>,
) {
    tokio::spawn(async move {
        let every = Duration::from_millis(u64::try_from(rule.refresh_ms).unwrap_or(3_600_000));
        let mut wait = if rule.data.get().loaded_at.is_some() { every } else { RETRY.min(every) };
        loop {
            tokio::time::sleep(wait).await;
            if alive.strong_count() == 0 {
                return;
            }
            wait = match refresh(&rule, &client).await {
                Ok(s) => {
                    tracing::info!(registry = %registry, source = %rule.source, records = s.records, packages = s.packages, unreadable = s.unreadable, "advisories read");
                    every
                }
                Err(e) => {
                    tracing::warn!(registry = %registry, source = %rule.source, error = %format!("{e:#}"), "advisories could not be read; the last ones read stay in force");
                    RETRY.min(every)
                }
            };
        }
    });
}

/// Every registry's advisories rules read once (before serving), then kept
/// current. A local source that cannot be read stops the start: the rule
/// would otherwise hold back every version. A URL that cannot be fetched is
/// tried again; until it is read, the rule holds back what it would judge.
pub async fn start<W: Send + Sync + 'static>(
    registries: &[(String, Arc<crate::rules::RuleSet>)],
    client: &reqwest::Client,
    alive: &std::sync::Weak<W>,
) -> anyhow::Result<()> {
    for (registry, rules) in registries {
        for rule in rules.advisories() {
            match refresh(rule, client).await {
                Ok(s) => {
                    tracing::info!(registry = %registry, source = %rule.source, records = s.records, packages = s.packages, unreadable = s.unreadable, "advisories read");
                }
                Err(e) if matches!(rule.source, Source::Url(_)) => {
                    tracing::warn!(registry = %registry, source = %rule.source, error = %format!("{e:#}"), "advisories could not be read yet; until they are, the rule holds back every version it judges");
                }
                Err(e) => return Err(e.context(format!("registry {registry}: reading the advisories rule's source"))),
            }
            spawn_refresher(registry.clone(), rule.clone(), client.clone(), alive.clone());
        }
    }
    Ok(())
}
