//! Supply-chain rules (`[[registries.rules]]`): which upstream versions a
//! registry lets its callers see and download.
//!
//! Architecture invariants:
//! - Evaluation is one pure function ([`RuleSet::check`]) of the rules, the
//!   candidate (name, version, when it was published upstream), the caller
//!   and the time: no I/O, so it is tested as a table and every ecosystem
//!   asks the same question.
//! - The shared layer knows no version syntax: a rule's ranges are parsed
//!   by the registry type's own range parser ([`Syntax`]) when the configuration is
//!   read, and kept as matchers.
//! - Rules apply to what comes from upstreams; a registry's own published
//!   packages are never hidden or refused by them.
//! - Advisory data is read elsewhere (`upstream::advisories`) and swapped
//!   in whole ([`AdvisoryCell`]); a check reads one consistent snapshot.

use std::fmt;
use std::sync::Arc;

pub mod advisories;
pub mod licence;

pub use advisories::{AdvisoryCell, AdvisoryIndex, AdvisoryRule, OsvName, OsvTarget, Severity, Source};
pub use licence::LicenceRule;

/// Whether a version is inside a parsed range.
pub type VersionMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A name, or a name and the versions in a range (`name@range`).
#[derive(Clone)]
pub struct Entry {
    pub name: String,
    pub range: Option<(String, VersionMatcher)>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.range {
            Some((r, _)) => write!(f, "{}@{r}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl Entry {
    fn matches(&self, name: &str, version: &str) -> bool {
        self.name == name && self.range.as_ref().is_none_or(|(_, m)| m(version))
    }
}

#[derive(Debug, Clone)]
pub enum Rule {
    /// Versions published upstream less than `min_age_ms` ago are withheld.
    ReleaseAge {
        min_age_ms: i64,
        /// Groups (or `admin`, the role) the rule does not hold back.
        bypass: Vec<String>,
        /// Whether a version whose upstream gives no publish time passes.
        allow_missing_timestamp: bool,
    },
    /// Names and ranges: `deny` entries withhold what they match; a package
    /// named by `allow` entries is limited to the versions they match.
    Version { allow: Vec<Entry>, deny: Vec<Entry> },
    /// Versions OSV advisories name: malicious packages always, known
    /// vulnerabilities from a severity up.
    Advisories(AdvisoryRule),
    /// Versions whose declared licence the rule does not accept.
    Licence(LicenceRule),
}

impl Rule {
    /// The rule's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::ReleaseAge { .. } => "release_age",
            Rule::Version { .. } => "version",
            Rule::Advisories(_) => "advisories",
            Rule::Licence(_) => "licence",
        }
    }

    /// This one rule's answer for `candidate`.
    pub fn verdict(&self, candidate: &Candidate, caller: &Caller, now: i64) -> Result<(), Denial> {
        match self {
            Rule::ReleaseAge { min_age_ms, bypass, allow_missing_timestamp } => {
                let bypassed =
                    bypass.iter().any(|b| (b == "admin" && caller.admin) || caller.groups.iter().any(|g| g == b));
                if bypassed {
                    return Ok(());
                }
                match candidate.published_at {
                    Some(at) => {
                        let available = at.saturating_add(*min_age_ms);
                        if now < available {
                            return Err(Denial {
                                rule: "release_age",
                                message: format!(
                                    "{}@{} was published {} and is held back by the registry's release_age rule until {}",
                                    candidate.name,
                                    candidate.version,
                                    rfc3339(at),
                                    rfc3339(available)
                                ),
                                available_at: Some(available),
                                advisories: Vec::new(),
                            });
                        }
                    }
                    None if *allow_missing_timestamp => {}
                    None => {
                        return Err(Denial {
                            rule: "release_age",
                            message: format!(
                                "{}@{} is held back by the registry's release_age rule: the upstream gives no publish time",
                                candidate.name, candidate.version
                            ),
                            available_at: None,
                            advisories: Vec::new(),
                        });
                    }
                }
            }
            Rule::Version { allow, deny } => {
                if let Some(e) = deny.iter().find(|e| e.matches(candidate.name, candidate.version)) {
                    return Err(Denial {
                        rule: "version",
                        message: format!(
                            "{}@{} is denied by the registry's version rule (`{e:?}`)",
                            candidate.name, candidate.version
                        ),
                        available_at: None,
                        advisories: Vec::new(),
                    });
                }
                let named = |e: &&Entry| e.name == candidate.name;
                if allow.iter().any(|e| named(&e))
                    && !allow.iter().any(|e| e.matches(candidate.name, candidate.version))
                {
                    return Err(Denial {
                        rule: "version",
                        message: format!(
                            "{}@{} is outside what the registry's version rule allows ({})",
                            candidate.name,
                            candidate.version,
                            allow.iter().filter(named).map(|e| format!("`{e:?}`")).collect::<Vec<_>>().join(", ")
                        ),
                        available_at: None,
                        advisories: Vec::new(),
                    });
                }
            }
            Rule::Advisories(rule) => {
                let index = rule.data.get();
                if index.loaded_at.is_none() {
                    return Err(Denial {
                        rule: "advisories",
                        message: format!(
                            "{}@{} is held back: the registry's advisory data ({}) has not been read yet",
                            candidate.name, candidate.version, rule.source
                        ),
                        available_at: None,
                        advisories: Vec::new(),
                    });
                }
                let blocking = advisories::blocking(rule, &index, candidate.name, candidate.version);
                if !blocking.is_empty() {
                    return Err(Denial {
                        rule: "advisories",
                        message: format!(
                            "{}@{} is blocked by the registry's advisories rule: {}",
                            candidate.name,
                            candidate.version,
                            advisories::describe(&blocking)
                        ),
                        available_at: None,
                        advisories: blocking.iter().map(|a| a.id.clone()).collect(),
                    });
                }
            }
            Rule::Licence(rule) => {
                if let Some(why) = licence::refusal(rule, candidate.licence) {
                    return Err(Denial {
                        rule: "licence",
                        message: format!(
                            "{}@{} {why} (the registry's licence rule)",
                            candidate.name, candidate.version
                        ),
                        available_at: None,
                        advisories: Vec::new(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A registry's rules, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Those marked `local = true`: what the registry's own published
    /// packages are judged by too (none unless configured).
    pub local: Option<std::sync::Arc<RuleSet>>,
}

/// An upstream version asked about.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The package's catalog key (the ecosystem's one spelling).
    pub name: &'a str,
    pub version: &'a str,
    /// When the upstream says it was published (epoch ms).
    pub published_at: Option<i64>,
    /// The licence its metadata declares (an SPDX expression, as written).
    pub licence: Option<&'a str>,
}

/// An upstream version as the rules see it (owned: what
/// `Ecosystem::upstream_releases` answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: String,
    pub published_at: Option<i64>,
    pub licence: Option<String>,
}

impl Candidate<'_> {
    pub fn to_release(&self) -> Release {
        Release {
            version: self.version.to_string(),
            published_at: self.published_at,
            licence: self.licence.map(str::to_string),
        }
    }
}

impl Release {
    pub fn candidate<'a>(&'a self, name: &'a str) -> Candidate<'a> {
        Candidate { name, version: &self.version, published_at: self.published_at, licence: self.licence.as_deref() }
    }
}

/// Who asks: the bypass lists name groups and the `admin` role.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub groups: &'a [String],
    pub admin: bool,
}

/// Why a version is withheld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The rule's type (`release_age`, `version`).
    pub rule: &'static str,
    /// For the client's error message and the log.
    pub message: String,
    /// When the version becomes available (`release_age`).
    pub available_at: Option<i64>,
    /// The advisories that block it (`advisories`).
    pub advisories: Vec<String>,
}

/// What a registry type gives its rules: its range syntax, its names'
/// catalog key, its version order, its name in OSV records (if OSV covers
/// it) and whether its metadata declares licences.
#[derive(Debug, Clone, Copy)]
pub struct Syntax {
    pub ranges: fn(&str) -> Result<VersionMatcher, String>,
    pub normalize: fn(&str) -> Option<String>,
    pub order: fn(&str, &str) -> std::cmp::Ordering,
    pub osv: Option<OsvName>,
    pub licences: bool,
}

/// A duration written as a number and a unit: `m`, `h` or `d`.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| format!("`{text}` is not a duration such as \"72h\""))?;
    let per = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{text}`: the unit must be `m`, `h` or `d`")),
    };
    n.checked_mul(per).ok_or_else(|| format!("`{text}` is too long"))
}

/// An RFC 3339 time (upstream publish times) as epoch ms.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// An epoch-ms time as RFC 3339 (UTC), for messages.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn strings(table: &toml::Table, key: &str) -> Result<Vec<String>, String> {
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("`{key}` must be a list of strings")))
            .collect(),
        Some(_) => Err(format!("`{key}` must be a list of strings")),
    }
}

fn entries(table: &toml::Table, key: &str, syntax: &Syntax) -> Result<Vec<Entry>, String> {
    strings(table, key)?
        .into_iter()
        .map(|text| {
            // `@scope/name@range`: the range follows the last `@` that is
            // not the first character.
            let (name, range) = match text[1.min(text.len())..].rfind('@') {
                Some(i) => (&text[..i + 1], Some(&text[i + 2..])),
                None => (text.as_str(), None),
            };
            let key_name =
                (syntax.normalize)(name).ok_or_else(|| format!("`{key}`: `{name}` is not a package name"))?;
            let range = match range {
                Some(r) => Some((r.to_string(), (syntax.ranges)(r).map_err(|e| format!("`{key}`: `{text}`: {e}"))?)),
                None => None,
            };
            Ok(Entry { name: key_name, range })
        })
        .collect()
}

fn allow_or_deny(t: &toml::Table, key: &str, default_allow: bool) -> Result<bool, String> {
    match t.get(key).map(|v| v.as_str()) {
        None => Ok(default_allow),
        Some(Some("deny")) => Ok(false),
        Some(Some("allow")) => Ok(true),
        Some(_) => Err(format!("`{key}` is \"deny\" or \"allow\"")),
    }
}

const TYPES: &str = "`release_age`, `version`, `advisories` or `licence`";

impl RuleSet {
    /// The rules of `[[registries.rules]]` tables, each checked: its
    /// `type`, its keys, its durations and its entries (names, ranges,
    /// OSV name and licences as the registry type's `syntax` has them).
    pub fn parse(tables: &[toml::Table], syntax: &Syntax) -> Result<RuleSet, Vec<String>> {
        let mut rules = Vec::new();
        let mut local = Vec::new();
        let mut errors = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let marked = match t.get("local") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(_) => {
                    errors.push(format!("rule {}: `local` is true or false", i + 1));
                    continue;
                }
            };
            let mut t = t.clone();
            t.remove("local");
            match RuleSet::parse_one(&t, syntax) {
                Ok(r) => {
                    if marked {
                        local.push(r.clone());
                    }
                    rules.push(r);
                }
                Err(e) => errors.push(format!("rule {}: {e}", i + 1)),
            }
        }
        let local = (!local.is_empty()).then(|| std::sync::Arc::new(RuleSet { rules: local, local: None }));
        if errors.is_empty() { Ok(RuleSet { rules, local }) } else { Err(errors) }
    }

    fn parse_one(t: &toml::Table, syntax: &Syntax) -> Result<Rule, String> {
        let kind = t.get("type").and_then(|v| v.as_str()).ok_or_else(|| format!("needs a `type`: {TYPES}"))?;
        let known: &[&str] = match kind {
            "release_age" => &["type", "min_age", "bypass", "missing_timestamp"],
            "version" => &["type", "allow", "deny"],
            "advisories" => &["type", "source", "refresh", "min_severity"],
            "licence" | "license" => &["type", "allow", "deny", "missing_licence"],
            other => return Err(format!("unknown rule type `{other}`: {TYPES}")),
        };
        if let Some(k) = t.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown key `{k}` in a `{kind}` rule: expected one of {}", known.join(", ")));
        }
        match kind {
            "release_age" => {
                let min_age =
                    t.get("min_age").and_then(|v| v.as_str()).ok_or("`min_age` is required, such as \"72h\"")?;
                Ok(Rule::ReleaseAge {
                    min_age_ms: parse_duration_ms(min_age)?,
                    bypass: strings(t, "bypass")?,
                    allow_missing_timestamp: allow_or_deny(t, "missing_timestamp", false)?,
                })
            }
            "version" => {
                let (allow, deny) = (entries(t, "allow", syntax)?, entries(t, "deny", syntax)?);
                if allow.is_empty() && deny.is_empty() {
                    return Err("a `version` rule needs `allow` or `deny` entries".into());
                }
                Ok(Rule::Version { allow, deny })
            }
            "advisories" => {
                let name = syntax.osv.ok_or("OSV has no advisories for this registry type")?;
                let source = t
                    .get("source")
                    .and_then(|v| v.as_str())
                    .ok_or("`source` is required: an OSV export URL, a zip of OSV records or a folder of them")?;
                let refresh_ms = match t.get("refresh") {
                    None => 3_600_000,
                    Some(v) => parse_duration_ms(v.as_str().ok_or("`refresh` is a duration such as \"1h\"")?)?,
                };
                if refresh_ms < 60_000 {
                    return Err("`refresh` is at least \"1m\"".into());
                }
                let min_severity =
                    match t.get("min_severity") {
                        None => None,
                        Some(v) => Some(v.as_str().and_then(Severity::parse).ok_or(
                            "`min_severity` is \"low\", \"medium\" (or \"moderate\"), \"high\" or \"critical\"",
                        )?),
                    };
                Ok(Rule::Advisories(AdvisoryRule {
                    source: Source::parse(source)?,
                    refresh_ms,
                    min_severity,
                    target: OsvTarget { name, normalize: syntax.normalize, order: syntax.order },
                    data: Arc::new(AdvisoryCell::default()),
                }))
            }
            _ => {
                if !syntax.licences {
                    return Err("this registry type's metadata declares no licences".into());
                }
                let parse = |key: &str| -> Result<Vec<spdx::Licensee>, String> {
                    strings(t, key)?
                        .iter()
                        .map(|e| licence::parse_entry(e).map_err(|e| format!("`{key}`: {e}")))
                        .collect()
                };
                let (allow, deny) = (parse("allow")?, parse("deny")?);
                if allow.is_empty() && deny.is_empty() {
                    return Err("a `licence` rule needs `allow` or `deny` licences".into());
                }
                // With an allow list, a version without a licence is not known to be allowed.
                let allow_missing = allow_or_deny(t, "missing_licence", allow.is_empty())?;
                Ok(Rule::Licence(LicenceRule { allow, deny, allow_missing, answers: Default::default() }))
            }
        }
    }

    /// Whether a rule reads publish times (a `release_age` rule): where
    /// times cost a fetch per version, they are fetched only then.
    pub fn needs_times(&self) -> bool {
        self.rules.iter().any(|r| matches!(r, Rule::ReleaseAge { .. }))
    }

    /// Whether a rule reads declared licences (a `licence` rule).
    pub fn needs_licences(&self) -> bool {
        self.rules.iter().any(|r| matches!(r, Rule::Licence(_)))
    }

    /// The advisories rules (what the refresher reads sources for).
    pub fn advisories(&self) -> impl Iterator<Item = &AdvisoryRule> {
        self.rules.iter().filter_map(|r| match r {
            Rule::Advisories(a) => Some(a),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `caller` may see and download `candidate` at `now` (epoch
    /// ms): the first rule that withholds it says why.
    pub fn check(&self, candidate: &Candidate, caller: &Caller, now: i64) -> Result<(), Denial> {
        self.rules.iter().try_for_each(|rule| rule.verdict(candidate, caller, now))
    }

    /// Every rule's answer for `candidate` (not only the first denial): what
    /// the simulator shows.
    pub fn explain(&self, candidate: &Candidate, caller: &Caller, now: i64) -> Vec<(&'static str, Result<(), Denial>)> {
        self.rules.iter().map(|rule| (rule.kind(), rule.verdict(candidate, caller, now))).collect()
    }

    /// Of `candidates`, the versions `caller` may have now; the same
    /// answer as [`RuleSet::check`] for each.
    pub fn allowed<'a>(
        &self,
        candidates: impl IntoIterator<Item = Candidate<'a>>,
        caller: &Caller,
        now: i64,
    ) -> Vec<&'a str> {
        candidates.into_iter().filter(|c| self.check(c, caller, now).is_ok()).map(|c| c.version).collect()
    }
}

/// What the rules allow of one listing for one class of callers, and until
/// when that holds (the next moment a withheld version comes of age).
#[derive(Debug)]
pub struct Judgement {
    pub allowed: std::collections::HashSet<String>,
    /// For a document of many packages ([`RuleSet::judge_each`]): whether
    /// each candidate, by position, is allowed (`allowed` is then empty).
    pub positions: Vec<bool>,
    /// Differs with what is withheld (for a rendering's key).
    pub fingerprint: u64,
    /// Epoch ms; `i64::MAX` when no passing time changes the answer.
    pub valid_until: i64,
    /// Whether every version is allowed.
    pub all: bool,
}

impl Judgement {
    /// Roughly the memory it holds.
    pub fn weight(&self) -> u32 {
        let strings: usize = self.allowed.iter().map(|v| v.len() + 48).sum();
        u32::try_from(strings + self.positions.len() + 96).unwrap_or(u32::MAX)
    }
}

impl RuleSet {
    /// What in a caller can change the rules' answers: which `release_age`
    /// bypasses it is in (one bit per such rule).
    pub fn caller_class(&self, caller: &Caller) -> u64 {
        let mut class = 0u64;
        let mut bit = 0u32;
        for rule in &self.rules {
            if let Rule::ReleaseAge { bypass, .. } = rule {
                let bypassed =
                    bypass.iter().any(|b| (b == "admin" && caller.admin) || caller.groups.iter().any(|g| g == b));
                if bypassed && bit < 64 {
                    class |= 1 << bit;
                }
                bit += 1;
            }
        }
        class
    }

    /// A number that changes whenever data the rules read does (an
    /// advisories rule's source read again).
    pub fn data_generation(&self) -> u64 {
        self.advisories().fold(0u64, |acc, a| acc.wrapping_mul(1_000_003).wrapping_add(a.data.generation()))
    }

    /// Judge every version of one listing (`candidates`) for `caller` at
    /// `now`: the same answers as [`RuleSet::check`], with the moment they
    /// stop holding.
    pub fn judge(&self, candidates: &[Candidate], caller: &Caller, now: i64) -> Judgement {
        let mut allowed = std::collections::HashSet::with_capacity(candidates.len());
        let mut valid_until = i64::MAX;
        let mut all = true;
        for c in candidates {
            match self.check(c, caller, now) {
                Ok(()) => {
                    allowed.insert(c.version.to_string());
                }
                Err(d) => {
                    all = false;
                    if let Some(at) = d.available_at {
                        valid_until = valid_until.min(at);
                    }
                }
            }
        }
        let mut sorted: Vec<&String> = allowed.iter().collect();
        sorted.sort_unstable();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&sorted, &mut h);
        Judgement { fingerprint: std::hash::Hasher::finish(&h), allowed, positions: Vec::new(), valid_until, all }
    }

    /// [`RuleSet::judge`] for a document listing many packages (Conda's
    /// repodata): the answer for each candidate by position.
    pub fn judge_each(&self, candidates: &[Candidate], caller: &Caller, now: i64) -> Judgement {
        let mut valid_until = i64::MAX;
        let positions: Vec<bool> = candidates
            .iter()
            .map(|c| match self.check(c, caller, now) {
                Ok(()) => true,
                Err(d) => {
                    if let Some(at) = d.available_at {
                        valid_until = valid_until.min(at);
                    }
                    false
                }
            })
            .collect();
        let all = positions.iter().all(|p| *p);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&positions, &mut h);
        Judgement {
            allowed: std::collections::HashSet::new(),
            fingerprint: std::hash::Hasher::finish(&h),
            positions,
            valid_until,
            all,
        }
    }
}

/// The default range syntax of a registry type without its own: exact
/// versions only.
pub fn exact_versions(range: &str) -> Result<VersionMatcher, String> {
    let exact = range.trim().trim_start_matches('=').to_string();
    if exact.is_empty() || exact.contains(|c: char| c.is_whitespace() || "<>^~*,|".contains(c)) {
        return Err(format!("`{range}`: this registry type takes exact versions only"));
    }
    Ok(Arc::new(move |v: &str| v == exact))
}

#[cfg(test)]
mod tests;
