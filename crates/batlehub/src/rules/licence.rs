//! `licence` rules: a version's declared licence (an SPDX expression, read
//! leniently: `MIT/Apache-2.0`, `Apache 2.0`) must be satisfiable with
//! licences the rule allows and none it denies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use spdx::{Expression, LicenseReq, Licensee, ParseMode};

/// How many declared licences a rule remembers its answer for (a registry
/// sees few distinct ones; past this the memory starts again).
const REMEMBERED: usize = 4096;

#[derive(Debug, Clone)]
pub struct LicenceRule {
    /// When not empty, only these licences satisfy an expression.
    pub allow: Vec<Licensee>,
    /// These never do.
    pub deny: Vec<Licensee>,
    /// Whether a version declaring no licence (or one that is not an SPDX
    /// expression) passes.
    pub allow_missing: bool,
    /// Declared licence → the answer ([`refusal`] parses each once).
    pub answers: Arc<Mutex<HashMap<String, Option<String>>>>,
}

/// One `allow`/`deny` entry: an SPDX licence id (`MIT`, `Apache-2.0`,
/// `GPL-2.0-or-later`, `Apache-2.0 WITH LLVM-exception`).
pub fn parse_entry(text: &str) -> Result<Licensee, String> {
    Licensee::parse_mode(text.trim(), ParseMode::LAX).map_err(|e| format!("`{text}` is not an SPDX licence id: {e}"))
}

/// Why a declared licence is refused, `None` when it is not.
pub fn refusal(rule: &LicenceRule, declared: Option<&str>) -> Option<String> {
    let declared = declared.map(str::trim).filter(|d| !d.is_empty());
    let Some(text) = declared else {
        return (!rule.allow_missing).then(|| "declares no licence".to_string());
    };
    if let Ok(answers) = rule.answers.lock()
        && let Some(known) = answers.get(text)
    {
        return known.clone();
    }
    let answer = evaluate(rule, text);
    if let Ok(mut answers) = rule.answers.lock() {
        if answers.len() >= REMEMBERED {
            answers.clear();
        }
        answers.insert(text.to_string(), answer.clone());
    }
    answer
}

fn evaluate(rule: &LicenceRule, text: &str) -> Option<String> {
    let Ok(expr) = Expression::parse_mode(text, ParseMode::LAX) else {
        return (!rule.allow_missing).then(|| format!("declares `{text}`, which is not an SPDX licence expression"));
    };
    let acceptable = |req: &LicenseReq| {
        (rule.allow.is_empty() || rule.allow.iter().any(|l| l.satisfies(req)))
            && !rule.deny.iter().any(|l| l.satisfies(req))
    };
    if expr.evaluate(acceptable) {
        None
    } else {
        Some(format!("is licensed `{text}`, which the registry's licence rule does not accept"))
    }
}
