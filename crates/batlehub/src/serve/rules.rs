//! The registry's supply-chain rules on a request: which upstream versions
//! the caller may see, and the refusal of one it may not download. The
//! evaluation itself is [`crate::rules::RuleSet::check`].

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::catalog::now_ms;
use crate::error::{AppError, AppResult};
use crate::rules::{Caller, Candidate, Judgement, RuleSet};

use super::RequestCtx;

/// What the rules withhold from one upstream listing: the versions the
/// caller may have, and a fingerprint of them for the rendering's key.
/// Shared: one judgement serves every caller of the same class until it
/// stops holding.
#[derive(Debug, Clone)]
pub struct Withheld(Arc<Judgement>);

impl std::ops::Deref for Withheld {
    type Target = Judgement;

    fn deref(&self) -> &Judgement {
        &self.0
    }
}

impl Withheld {
    pub fn allows(&self, version: &str) -> bool {
        self.0.allowed.contains(version)
    }

    /// A rendering key part that differs with what is withheld.
    pub fn render_key(&self, base: &str) -> String {
        format!("{base}\0rules:{:x}", self.0.fingerprint)
    }
}

/// What the rules withhold from a document listing many packages (a Conda
/// channel's repodata): by position, whether each candidate may be had.
#[derive(Debug, Clone)]
pub struct Mask(Arc<Judgement>);

impl Mask {
    pub fn allows(&self, i: usize) -> bool {
        self.0.positions.get(i).copied().unwrap_or(false)
    }

    /// A rendering key part that differs with what is withheld.
    pub fn render_key(&self, base: &str) -> String {
        format!("{base}\0rules:{:x}", self.0.fingerprint)
    }
}

impl RequestCtx {
    /// Whether this registry has rules at all (no rules: nothing to do).
    pub fn has_rules(&self) -> bool {
        !self.registry.rules.is_empty()
    }

    fn rules_caller(&self) -> Caller<'_> {
        Caller { groups: &self.principal.groups, admin: self.principal.is_admin() }
    }

    /// Of an upstream package's versions (`candidates`), those this caller
    /// may see now.
    pub fn rules_allow<'a>(&self, candidates: impl IntoIterator<Item = Candidate<'a>>) -> Vec<&'a str> {
        self.registry.rules.allowed(candidates, &self.rules_caller(), now_ms())
    }

    /// Refuse an upstream version the rules withhold from this caller: a
    /// 403 with the rule's message (audited as a denial where the request
    /// is served), counted and logged.
    pub fn rules_verdict(&self, candidate: &Candidate) -> AppResult<()> {
        self.verdict_by(&self.registry.rules, &self.registry.name, candidate)
    }

    fn verdict_by(&self, rules: &RuleSet, registry: &str, candidate: &Candidate) -> AppResult<()> {
        let (name, version) = (candidate.name, candidate.version);
        match rules.check(candidate, &self.rules_caller(), now_ms()) {
            Ok(()) => Ok(()),
            Err(denial) => {
                metrics::counter!(
                    "batlehub_rule_denials_total",
                    "registry" => registry.to_string(),
                    "rule" => denial.rule
                )
                .increment(1);
                tracing::info!(
                    registry = %registry,
                    package = name,
                    version,
                    rule = denial.rule,
                    by = %self.principal.label(),
                    "{}",
                    denial.message
                );
                Err(AppError::Forbidden(denial.message))
            }
        }
    }

    /// Refuse an upstream file (`file`: its cache key) whose release the
    /// rules withhold from this caller. `lookup` finds the package (its
    /// catalog key) and release in the type's listing (`None`: not listed,
    /// left to the download); they are remembered, so that a cached file's
    /// next download is judged without reading the listing again (an
    /// upstream release's version, time and licence do not change).
    pub async fn rules_check_file<F, Fut>(&self, file: &str, lookup: F) -> AppResult<()>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = AppResult<Option<(String, crate::rules::Release)>>>,
    {
        if !self.has_rules() {
            return Ok(());
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.registry.name.as_str(), file).hash(&mut h);
        let key = h.finish();
        let release = match self.app.release_facts.get(&key) {
            Some(r) => r,
            None => match lookup().await? {
                Some(r) => {
                    let r = Arc::new(r);
                    self.app.release_facts.insert(key, Arc::clone(&r));
                    r
                }
                None => return Ok(()),
            },
        };
        self.rules_verdict(&release.1.candidate(&release.0))
    }

    /// Refuse `version` when the rules withhold it from this caller, as the
    /// listing that gave `candidates` has it. A version the listing does
    /// not have is left to the download, which finds nothing.
    pub fn rules_check_listed(&self, candidates: &[Candidate], version: &str) -> AppResult<()> {
        match candidates.iter().find(|c| c.version == version) {
            Some(c) if self.has_rules() => self.rules_verdict(c),
            _ => Ok(()),
        }
    }

    /// Of the candidates of a document of many packages, known by
    /// `listing` (an identity that changes with its content: a fetched
    /// body's generation), which this caller may have: `None` when every
    /// one. Nothing is refused for being all withheld: the document lists
    /// other packages too. Judged once per listing and class of caller;
    /// `candidates` are built only then.
    pub fn rules_mask_of<'a>(&self, listing: u64, candidates: impl FnOnce() -> Vec<Candidate<'a>>) -> Option<Mask> {
        if !self.has_rules() {
            return None;
        }
        let rules = &self.registry.rules;
        let (caller, now) = (self.rules_caller(), now_ms());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ("each", self.registry.name.as_str(), listing, rules.caller_class(&caller), rules.data_generation())
            .hash(&mut h);
        let key = h.finish();
        let judged = match self.app.judgements.get(&key).filter(|j| now < j.valid_until) {
            Some(j) => j,
            None => {
                let j = Arc::new(rules.judge_each(&candidates(), &caller, now));
                self.app.judgements.insert(key, Arc::clone(&j));
                j
            }
        };
        (!judged.all).then(|| Mask(judged))
    }

    /// What the rules withhold from an upstream package listing
    /// `candidates` (its versions): `None` when nothing. When every version
    /// is withheld the listing itself is refused with the newest one's
    /// reason, so that clients print why rather than that no version
    /// matches.
    pub fn rules_withheld(&self, candidates: &[Candidate]) -> AppResult<Option<Withheld>> {
        if !self.has_rules() {
            return Ok(None);
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for c in candidates {
            (c.name, c.version, c.published_at, c.licence).hash(&mut h);
        }
        self.judged(&self.registry.rules, &self.registry.name, h.finish(), || candidates.to_vec())
    }

    /// [`RequestCtx::rules_withheld`] for a listing known by an identity
    /// that changes with its content (a fetched body's generation): the
    /// candidates are built (by `candidates`) only when it is not judged
    /// already.
    pub fn rules_withheld_of<'a>(
        &self,
        listing: u64,
        candidates: impl FnOnce() -> Vec<Candidate<'a>>,
    ) -> AppResult<Option<Withheld>> {
        if !self.has_rules() {
            return Ok(None);
        }
        self.judged(&self.registry.rules, &self.registry.name, listing, candidates)
    }

    /// A local package's view as its registry's `local = true` rules let
    /// this caller have it: the versions they withhold leave it (with their
    /// files and tags), and when they withhold every version the package
    /// is refused with the newest one's reason. A version's licence is what
    /// its ecosystem reads from its metadata (`Ecosystem::local_licence`;
    /// npm's manifest), else none (a licence rule's `missing_licence`).
    pub(super) fn local_rules_view(
        &self,
        registry: &crate::registry::Registry,
        rules: &RuleSet,
        package: &crate::catalog::PackageRow,
        view: Arc<crate::registry::PackageView>,
    ) -> AppResult<Arc<crate::registry::PackageView>> {
        let licences: Vec<Option<String>> = if rules.needs_licences() {
            view.versions.iter().map(|v| (self.local_licence)(v)).collect()
        } else {
            Vec::new()
        };
        let candidates = || {
            view.versions
                .iter()
                .enumerate()
                .map(|(i, v)| Candidate {
                    name: &package.name,
                    version: &v.version,
                    published_at: Some(v.published_at),
                    licence: licences.get(i).and_then(|l| l.as_deref()),
                })
                .collect::<Vec<_>>()
        };
        let Some(w) = self.judged(rules, &registry.name, view.id ^ 0x6c6f_6361_6c00_0000, candidates)? else {
            return Ok(view);
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (view.id, w.fingerprint).hash(&mut h);
        Ok(Arc::new(view.only(h.finish(), &|v| w.allows(&v.version))))
    }

    /// Refuse a download of a published file whose version the registry's
    /// `local = true` rules withhold, with the rule's reason.
    pub(super) fn refuse_hidden_file(&self, local: &super::Local, filename: &str) -> AppResult<()> {
        let (Some(full), Some(rules)) = (&local.hidden, &local.registry.rules.local) else { return Ok(()) };
        let Some(file) = full.file(filename) else { return Ok(()) };
        let Some(v) = full.versions.iter().find(|v| v.id == file.version_id) else { return Ok(()) };
        let licence = if rules.needs_licences() { (self.local_licence)(v) } else { None };
        let candidate = Candidate {
            name: &local.package.name,
            version: &v.version,
            published_at: Some(v.published_at),
            licence: licence.as_deref(),
        };
        self.verdict_by(rules, &local.registry.name, &candidate)
    }

    /// What [`RequestCtx::rules_withheld_of`] would answer for `listing`
    /// when it is judged already (and not refused whole): for types whose
    /// candidates cost fetches to build, which are then skipped.
    pub fn rules_known(&self, listing: u64) -> Option<Option<Withheld>> {
        if !self.has_rules() {
            return Some(None);
        }
        let key = judgement_key(&self.registry.rules, &self.registry.name, listing, &self.rules_caller());
        let judged = self.app.judgements.get(&key).filter(|j| now_ms() < j.valid_until)?;
        match (judged.all, judged.allowed.is_empty()) {
            (true, _) => Some(None),
            (false, false) => Some(Some(Withheld(judged))),
            // Every version withheld: the refusal needs the candidates.
            (false, true) => None,
        }
    }

    fn judged<'a>(
        &self,
        rules: &RuleSet,
        registry: &str,
        listing: u64,
        candidates: impl FnOnce() -> Vec<Candidate<'a>>,
    ) -> AppResult<Option<Withheld>> {
        let (caller, now) = (self.rules_caller(), now_ms());
        let key = judgement_key(rules, registry, listing, &caller);
        let mut make = Some(candidates);
        let mut built: Option<Vec<Candidate<'a>>> = None;
        let judged = match self.app.judgements.get(&key).filter(|j| now < j.valid_until) {
            Some(j) => j,
            None => {
                let list = built.insert(make.take().map(|f| f()).unwrap_or_default());
                let j = Arc::new(rules.judge(list, &caller, now));
                self.app.judgements.insert(key, Arc::clone(&j));
                j
            }
        };
        if judged.all {
            return Ok(None);
        }
        if judged.allowed.is_empty() {
            // Refused with the newest version's reason.
            let list = built.or_else(|| make.take().map(|f| f())).unwrap_or_default();
            let order = self.registry.version_order;
            if let Some(newest) = list.iter().max_by(|a, b| order(a.version, b.version)) {
                self.verdict_by(rules, registry, newest)?;
            }
        }
        Ok(Some(Withheld(judged)))
    }
}

/// Where a listing's judgement for a class of callers is remembered.
fn judgement_key(rules: &RuleSet, registry: &str, listing: u64, caller: &Caller) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (registry, listing, rules.caller_class(caller), rules.data_generation()).hash(&mut h);
    h.finish()
}
