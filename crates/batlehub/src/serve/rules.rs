//! The registry's supply-chain rules on a request: which upstream versions
//! the caller may see, and the refusal of one it may not download. The
//! evaluation itself is [`crate::rules::RuleSet::check`].

use crate::catalog::now_ms;
use crate::error::{AppError, AppResult};
use crate::rules::{Caller, Candidate};

use super::RequestCtx;

impl RequestCtx {
    /// Whether this registry has rules at all (no rules: nothing to do).
    pub fn has_rules(&self) -> bool {
        !self.registry.rules.is_empty()
    }

    fn rules_caller(&self) -> Caller<'_> {
        Caller { groups: &self.principal.groups, admin: self.principal.is_admin() }
    }

    /// Of upstream package `name`'s `versions` (each with its upstream
    /// publish time), those this caller may see now.
    pub fn rules_allow<'a>(
        &self,
        name: &str,
        versions: impl IntoIterator<Item = (&'a str, Option<i64>)>,
    ) -> Vec<&'a str> {
        self.registry.rules.allowed(name, versions, &self.rules_caller(), now_ms())
    }

    /// Refuse an upstream version the rules withhold from this caller: a
    /// 403 with the rule's message (audited as a denial where the request
    /// is served), counted and logged.
    pub fn rules_verdict(&self, name: &str, version: &str, published_at: Option<i64>) -> AppResult<()> {
        let candidate = Candidate { name, version, published_at };
        match self.registry.rules.check(&candidate, &self.rules_caller(), now_ms()) {
            Ok(()) => Ok(()),
            Err(denial) => {
                metrics::counter!(
                    "batlehub_rule_denials_total",
                    "registry" => self.registry.name.clone(),
                    "rule" => denial.rule
                )
                .increment(1);
                tracing::info!(
                    registry = %self.registry.name,
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
}
