//! OSV advisories as an `advisories` rule holds them: records parsed from
//! bytes (the OSV schema, one record per file as OSV exports them), indexed
//! by package for one registry type, and the versions each affects.
//!
//! Reading the records from a folder, a zip or a URL, and refreshing them,
//! is the job of `upstream::advisories`; here everything is pure.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use serde_json::Value;

/// The largest OSV record read (real ones are a few KiB).
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// How much of a record's id and summary is kept (what a denial shows).
const MAX_ID_CHARS: usize = 100;
const MAX_SUMMARY_CHARS: usize = 120;

/// How an ecosystem is named in OSV records: the `ecosystem` of an
/// `affected.package` (without a `:suffix`) or its `purl` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsvName {
    pub ecosystem: &'static str,
    pub purl_type: &'static str,
}

/// What reading records for one registry type needs: its OSV name, its
/// package names' catalog key and its version order.
#[derive(Debug, Clone, Copy)]
pub struct OsvTarget {
    pub name: OsvName,
    pub normalize: fn(&str) -> Option<String>,
    pub order: fn(&str, &str) -> Ordering,
}

/// CVSS's qualitative ratings (GitHub's `moderate` is `medium`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" | "moderate" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    fn of_cvss(vector: &str) -> Option<Severity> {
        let parsed: cvss::Cvss = vector.trim().parse().ok()?;
        match parsed.severity() {
            cvss::Severity::None => None,
            cvss::Severity::Low => Some(Severity::Low),
            cvss::Severity::Medium => Some(Severity::Medium),
            cvss::Severity::High => Some(Severity::High),
            cvss::Severity::Critical => Some(Severity::Critical),
        }
    }
}

/// One advisory, as a denial names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    pub id: String,
    /// A known-malicious package (`MAL-` id or alias): always blocked.
    pub malicious: bool,
    /// The highest severity the record gives, if any.
    pub severity: Option<Severity>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone)]
enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Event {
    fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// The versions of one package one advisory affects.
#[derive(Debug)]
struct Affects {
    advisory: Arc<Advisory>,
    versions: Vec<String>,
    /// Each range's events, sorted in the type's version order.
    ranges: Vec<Vec<Event>>,
}

impl Affects {
    fn covers(&self, version: &str, order: fn(&str, &str) -> Ordering) -> bool {
        self.versions.iter().any(|v| v == version) || self.ranges.iter().any(|r| range_covers(r, version, order))
    }
}

/// The OSV schema's evaluation of one range: walking its events in
/// version order, an `introduced` at or below the version opens it, a
/// `fixed` at or below (or a `last_affected` below) closes it; no version
/// at or above a `limit` is in it.
fn range_covers(events: &[Event], version: &str, order: fn(&str, &str) -> Ordering) -> bool {
    let limits: Vec<&str> = events.iter().filter(|e| matches!(e, Event::Limit(_))).map(Event::version).collect();
    if !limits.is_empty() && !limits.iter().any(|l| *l == "*" || order(version, l) == Ordering::Less) {
        return false;
    }
    let mut affected = false;
    for e in events {
        match e {
            Event::Introduced(v) if v == "0" || order(version, v) != Ordering::Less => affected = true,
            Event::Fixed(v) if order(version, v) != Ordering::Less => affected = false,
            Event::LastAffected(v) if order(version, v) == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    affected
}

/// Advisories by package (catalog key), for one registry type.
#[derive(Debug, Default)]
pub struct AdvisoryIndex {
    by_name: HashMap<String, Vec<Affects>>,
    /// Records that name a package of this type.
    pub records: usize,
    /// Files that were not OSV records (each is skipped, not fatal).
    pub unreadable: usize,
    /// When the data was read (epoch ms); `None` until the first read.
    pub loaded_at: Option<i64>,
}

impl AdvisoryIndex {
    /// The advisories affecting `name` at `version`.
    pub fn affecting<'a>(
        &'a self,
        name: &str,
        version: &'a str,
        order: fn(&str, &str) -> Ordering,
    ) -> impl Iterator<Item = &'a Advisory> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter(move |a| a.covers(version, order))
            .map(|a| a.advisory.as_ref())
    }

    /// How many packages have at least one advisory.
    pub fn packages(&self) -> usize {
        self.by_name.len()
    }
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    withdrawn: Option<Value>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    severity: Vec<RecordSeverity>,
    #[serde(default)]
    affected: Vec<RecordAffected>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RecordSeverity {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    score: String,
}

#[derive(Deserialize)]
struct RecordAffected {
    #[serde(default)]
    package: Option<RecordPackage>,
    #[serde(default)]
    ranges: Vec<RecordRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    severity: Vec<RecordSeverity>,
    #[serde(default)]
    ecosystem_specific: Option<Value>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RecordPackage {
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RecordRange {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    events: Vec<HashMap<String, Value>>,
}

fn named_severity(v: Option<&Value>) -> Option<Severity> {
    v?.get("severity")?.as_str().and_then(Severity::parse)
}

fn scored_severity(list: &[RecordSeverity]) -> Option<Severity> {
    list.iter().filter(|s| s.kind.starts_with("CVSS")).filter_map(|s| Severity::of_cvss(&s.score)).max()
}

impl RecordPackage {
    fn is(&self, target: &OsvName) -> bool {
        let ecosystem = self.ecosystem.split(':').next().unwrap_or_default();
        ecosystem.eq_ignore_ascii_case(target.ecosystem)
            || self.purl.as_deref().is_some_and(|p| {
                p.strip_prefix("pkg:").and_then(|p| p.split_once('/')).is_some_and(|(t, _)| t == target.purl_type)
            })
    }
}

/// Builds an [`AdvisoryIndex`] from records, one at a time.
pub struct IndexBuilder {
    target: OsvTarget,
    index: AdvisoryIndex,
}

impl IndexBuilder {
    pub fn new(target: OsvTarget) -> IndexBuilder {
        IndexBuilder { target, index: AdvisoryIndex::default() }
    }

    /// Read one OSV record. A record that is not one (or too large) is
    /// counted as unreadable and returned as an error; withdrawn records,
    /// informational notices (no vulnerability: RustSec's `unmaintained`)
    /// and records of other ecosystems are left out.
    pub fn add(&mut self, bytes: &[u8]) -> Result<(), String> {
        match parse_record(bytes) {
            Ok(record) => {
                self.add_record(record);
                Ok(())
            }
            Err(e) => {
                self.index.unreadable += 1;
                Err(e)
            }
        }
    }

    fn add_record(&mut self, record: Record) {
        if record.withdrawn.as_ref().is_some_and(|w| !w.is_null())
            || record.database_specific.as_ref().and_then(|d| d.get("informational")).is_some_and(|i| !i.is_null())
        {
            return;
        }
        let malicious = record.id.starts_with("MAL-") || record.aliases.iter().any(|a| a.starts_with("MAL-"));
        let record_severity = named_severity(record.database_specific.as_ref()).or(scored_severity(&record.severity));
        let mut counted = false;
        for affected in record.affected {
            let Some(package) = affected.package.as_ref().filter(|p| p.is(&self.target.name)) else { continue };
            let Some(key) = (self.target.normalize)(&package.name) else { continue };
            let severity = [
                record_severity,
                named_severity(affected.ecosystem_specific.as_ref()),
                named_severity(affected.database_specific.as_ref()),
                scored_severity(&affected.severity),
            ]
            .into_iter()
            .flatten()
            .max();
            let order = self.target.order;
            let ranges = affected
                .ranges
                .iter()
                .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
                .map(|r| {
                    let mut events: Vec<Event> = r
                        .events
                        .iter()
                        .flat_map(|e| e.iter())
                        .filter_map(|(k, v)| {
                            let v = v.as_str()?.to_string();
                            match k.as_str() {
                                "introduced" => Some(Event::Introduced(v)),
                                "fixed" => Some(Event::Fixed(v)),
                                "last_affected" => Some(Event::LastAffected(v)),
                                "limit" => Some(Event::Limit(v)),
                                _ => None,
                            }
                        })
                        .collect();
                    // "0" sorts before every version.
                    events.sort_by(|a, b| match (a.version() == "0", b.version() == "0") {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Less,
                        (false, true) => Ordering::Greater,
                        (false, false) => order(a.version(), b.version()),
                    });
                    events
                })
                .filter(|events| !events.is_empty())
                .collect::<Vec<_>>();
            if ranges.is_empty() && affected.versions.is_empty() {
                continue;
            }
            // Only what a denial shows is kept, bounded.
            let advisory = Arc::new(Advisory {
                id: record.id.chars().take(MAX_ID_CHARS).collect(),
                malicious,
                severity,
                summary: record.summary.as_ref().map(|s| s.chars().take(MAX_SUMMARY_CHARS).collect()),
            });
            self.index.by_name.entry(key).or_default().push(Affects { advisory, versions: affected.versions, ranges });
            counted = true;
        }
        if counted {
            self.index.records += 1;
        }
    }

    pub fn finish(mut self, loaded_at: i64) -> AdvisoryIndex {
        self.index.loaded_at = Some(loaded_at);
        self.index
    }
}

fn parse_record(bytes: &[u8]) -> Result<Record, String> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(format!("an OSV record is at most {MAX_RECORD_BYTES} bytes"));
    }
    let record: Record = serde_json::from_slice(bytes).map_err(|e| format!("not an OSV record: {e}"))?;
    if record.id.is_empty() {
        return Err("an OSV record needs an `id`".into());
    }
    Ok(record)
}

/// Whether `bytes` parse as an OSV record (the fuzz target's entry).
pub fn check_record(bytes: &[u8]) -> Result<(), String> {
    parse_record(bytes).map(|_| ())
}

/// The advisories an `advisories` rule consults: replaced whole when its
/// source is read again, so a check sees one consistent set.
#[derive(Debug, Default)]
pub struct AdvisoryCell {
    current: RwLock<Arc<AdvisoryIndex>>,
    /// Bumped at each replacement: what judgements of listings remember.
    generation: std::sync::atomic::AtomicU64,
}

impl AdvisoryCell {
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn get(&self) -> Arc<AdvisoryIndex> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn set(&self, index: AdvisoryIndex) {
        let index = Arc::new(index);
        match self.current.write() {
            Ok(mut g) => *g = index,
            Err(poisoned) => *poisoned.into_inner() = index,
        }
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Where an `advisories` rule reads OSV records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A folder of OSV JSON files (read recursively).
    Folder(std::path::PathBuf),
    /// A zip of OSV JSON files (an OSV export's `all.zip`).
    Zip(std::path::PathBuf),
    /// An OSV export zip fetched over HTTP(S).
    Url(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Folder(p) | Source::Zip(p) => write!(f, "{}", p.display()),
            Source::Url(u) => f.write_str(u),
        }
    }
}

impl Source {
    /// `source` as written: an `http(s)://` URL, a `.zip` file, or a folder.
    pub fn parse(text: &str) -> Result<Source, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("`source` is an OSV export URL, a zip of OSV records or a folder of them".into());
        }
        if text.starts_with("https://") || text.starts_with("http://") {
            let url = url::Url::parse(text).map_err(|e| format!("`source`: `{text}` is not a URL: {e}"))?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err("`source`: credentials do not go in the URL".into());
            }
            return Ok(Source::Url(text.to_string()));
        }
        if text.contains("://") {
            return Err(format!("`source`: `{text}`: only http and https URLs are read"));
        }
        let path = std::path::PathBuf::from(text);
        if text.to_ascii_lowercase().ends_with(".zip") { Ok(Source::Zip(path)) } else { Ok(Source::Folder(path)) }
    }
}

/// An `advisories` rule: versions named by OSV advisories are withheld.
#[derive(Debug, Clone)]
pub struct AdvisoryRule {
    pub source: Source,
    /// How often the source is read again (ms).
    pub refresh_ms: i64,
    /// Vulnerabilities below this severity pass (malicious packages never
    /// do); `None`: every advisory blocks.
    pub min_severity: Option<Severity>,
    pub target: OsvTarget,
    pub data: Arc<AdvisoryCell>,
}

/// What an advisories rule says of one version: the advisories that block it.
pub fn blocking<'a>(rule: &AdvisoryRule, index: &'a AdvisoryIndex, name: &str, version: &'a str) -> Vec<&'a Advisory> {
    index
        .affecting(name, version, rule.target.order)
        .filter(|a| {
            a.malicious
                || match (rule.min_severity, a.severity) {
                    (None, _) => true,
                    // A vulnerability of unknown severity is not known to be below the floor.
                    (Some(_), None) => true,
                    (Some(min), Some(s)) => s >= min,
                }
        })
        .collect()
}

/// How a denial names the advisories: malicious ones first.
pub fn describe(advisories: &[&Advisory]) -> String {
    let mut sorted: Vec<&&Advisory> = advisories.iter().collect();
    sorted.sort_by_key(|a| (!a.malicious, std::cmp::Reverse(a.severity), a.id.clone()));
    let shown: Vec<String> = sorted
        .iter()
        .take(3)
        .map(|a| {
            let what = if a.malicious {
                "malicious package".to_string()
            } else {
                a.severity.map_or("severity not given".to_string(), |s| format!("{} severity", s.as_str()))
            };
            match &a.summary {
                Some(s) if !s.is_empty() => format!("{} ({what}: {s})", a.id),
                _ => format!("{} ({what})", a.id),
            }
        })
        .collect();
    let more = sorted.len().saturating_sub(3);
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}
