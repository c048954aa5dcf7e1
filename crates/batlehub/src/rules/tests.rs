//! The rule evaluation table.

use super::*;

const HOUR: i64 = 3_600_000;
const NOW: i64 = 1_800_000_000_000;

/// npm-like ranges for the table: `>=x` and exact versions, compared as
/// dotted numbers (the real parsers are the ecosystems').
fn ranges(r: &str) -> Result<VersionMatcher, String> {
    fn num(v: &str) -> Vec<u64> {
        v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
    }
    if let Some(min) = r.strip_prefix(">=") {
        let min = num(min);
        return Ok(Arc::new(move |v: &str| num(v) >= min));
    }
    exact_versions(r)
}

fn normalize(name: &str) -> Option<String> {
    (!name.is_empty() && !name.contains(' ')).then(|| name.to_lowercase())
}

/// Dotted numbers, numerically (a pre-release part sorts as 0).
fn order(a: &str, b: &str) -> std::cmp::Ordering {
    let num = |v: &str| -> Vec<u64> { v.split(['.', '-']).map(|p| p.parse().unwrap_or(0)).collect() };
    num(a).cmp(&num(b))
}

const SYNTAX: Syntax =
    Syntax { ranges, normalize, order, osv: Some(OsvName { ecosystem: "npm", purl_type: "npm" }), licences: true };

fn rules(toml_text: &str) -> Result<RuleSet, Vec<String>> {
    let doc: toml::Table = toml::from_str(toml_text).expect("toml");
    let tables: Vec<toml::Table> = doc
        .get("rules")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_table().cloned()).collect())
        .unwrap_or_default();
    RuleSet::parse(&tables, &SYNTAX)
}

fn candidate<'a>(name: &'a str, version: &'a str, published_at: Option<i64>) -> Candidate<'a> {
    Candidate { name, version, published_at, licence: None }
}

fn check(p: &RuleSet, name: &str, version: &str, published_at: Option<i64>, groups: &[&str]) -> Result<(), Denial> {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    p.check(&candidate(name, version, published_at), &Caller { groups: &groups, admin: false }, NOW)
}

#[test]
fn durations() {
    assert_eq!(parse_duration_ms("72h"), Ok(72 * HOUR));
    assert_eq!(parse_duration_ms("30m"), Ok(30 * 60_000));
    assert_eq!(parse_duration_ms("3d"), Ok(72 * HOUR));
    for bad in ["", "72", "h", "1.5h", "3w", "-1h"] {
        assert!(parse_duration_ms(bad).is_err(), "{bad}");
    }
}

#[test]
fn release_age_holds_back_young_versions_until_they_are_old_enough() {
    let p = rules("[[rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\nbypass = [\"oidc:security\"]\n").expect("ok");
    assert_eq!(check(&p, "left-pad", "1.0.0", Some(NOW - 73 * HOUR), &[]), Ok(()));
    let young = check(&p, "left-pad", "1.1.0", Some(NOW - HOUR), &[]).expect_err("too young");
    assert_eq!(young.rule, "release_age");
    assert_eq!(young.available_at, Some(NOW - HOUR + 72 * HOUR));
    assert!(young.message.contains("left-pad@1.1.0") && young.message.contains("until"), "{}", young.message);
    // Exactly the age: available.
    assert_eq!(check(&p, "left-pad", "1.2.0", Some(NOW - 72 * HOUR), &[]), Ok(()));
    // The bypass group, and only it, sees young versions.
    assert_eq!(check(&p, "left-pad", "1.1.0", Some(NOW - HOUR), &["oidc:security"]), Ok(()));
    assert!(check(&p, "left-pad", "1.1.0", Some(NOW - HOUR), &["oidc:other"]).is_err());
    // No timestamp: denied by default.
    let missing = check(&p, "left-pad", "1.3.0", None, &[]).expect_err("no time");
    assert!(missing.message.contains("no publish time"), "{}", missing.message);
}

#[test]
fn missing_timestamps_may_be_allowed_and_admins_bypass_when_named() {
    let p = rules(
        "[[rules]]\ntype = \"release_age\"\nmin_age = \"1d\"\nmissing_timestamp = \"allow\"\nbypass = [\"admin\"]\n",
    )
    .expect("ok");
    assert_eq!(check(&p, "a", "1.0.0", None, &[]), Ok(()));
    assert!(check(&p, "a", "1.0.0", Some(NOW), &[]).is_err());
    let admin = Caller { groups: &[], admin: true };
    assert_eq!(p.check(&candidate("a", "1.0.0", Some(NOW)), &admin, NOW), Ok(()));
}

#[test]
fn version_rules_deny_names_and_ranges_and_pin_allowed_ones() {
    let p = rules(
        "[[rules]]\ntype = \"version\"\ndeny = [\"evil\", \"colors@>=1.4.1\", \"@scope/pkg@2.0.0\"]\nallow = [\"Lodash@>=4.17.21\"]\n",
    )
    .expect("ok");
    assert!(check(&p, "evil", "0.0.1", None, &[]).is_err(), "a denied name, every version");
    assert_eq!(check(&p, "colors", "1.4.0", None, &[]), Ok(()));
    let d = check(&p, "colors", "1.4.1", None, &[]).expect_err("denied range");
    assert_eq!(d.rule, "version");
    assert!(d.message.contains("colors@>=1.4.1"), "{}", d.message);
    assert!(check(&p, "@scope/pkg", "2.0.0", None, &[]).is_err(), "a scoped name with a range");
    assert_eq!(check(&p, "@scope/pkg", "2.0.1", None, &[]), Ok(()));
    // Allow entries limit the package they name (names normalised), and
    // leave the others alone.
    assert!(check(&p, "lodash", "4.17.20", None, &[]).is_err());
    assert_eq!(check(&p, "lodash", "4.17.21", None, &[]), Ok(()));
    assert_eq!(check(&p, "express", "4.0.0", None, &[]), Ok(()));
    // Version rules know no bypass and need no timestamp.
    assert!(check(&p, "evil", "0.0.1", Some(0), &["admin"]).is_err());
}

#[test]
fn rules_apply_in_order_and_all_must_pass() {
    let p = rules(
        "[[rules]]\ntype = \"version\"\ndeny = [\"a@1.0.0\"]\n[[rules]]\ntype = \"release_age\"\nmin_age = \"1h\"\n",
    )
    .expect("ok");
    assert_eq!(check(&p, "a", "1.0.0", Some(NOW), &[]).expect_err("both").rule, "version");
    assert_eq!(check(&p, "a", "1.0.1", Some(NOW), &[]).expect_err("young").rule, "release_age");
    assert_eq!(check(&p, "a", "1.0.1", Some(NOW - 2 * HOUR), &[]), Ok(()));
    let caller = Caller { groups: &[], admin: false };
    let versions =
        [candidate("a", "1.0.0", Some(0)), candidate("a", "1.0.1", Some(0)), candidate("a", "1.0.2", Some(NOW))];
    assert_eq!(p.allowed(versions, &caller, NOW), vec!["1.0.1"]);
}

#[test]
fn bad_rules_are_refused_with_what_is_wrong() {
    let cases = [
        ("[[rules]]\nmin_age = \"1h\"\n", "needs a `type`"),
        ("[[rules]]\ntype = \"cooldown\"\n", "unknown rule type `cooldown`"),
        ("[[rules]]\ntype = \"advisories\"\n", "`source` is required"),
        ("[[rules]]\ntype = \"advisories\"\nsource = \"ftp://x/all.zip\"\n", "only http and https"),
        ("[[rules]]\ntype = \"advisories\"\nsource = \"/osv\"\nrefresh = \"30s\"\n", "unit must be"),
        ("[[rules]]\ntype = \"advisories\"\nsource = \"/osv\"\nrefresh = \"0m\"\n", "at least"),
        ("[[rules]]\ntype = \"advisories\"\nsource = \"/osv\"\nmin_severity = \"severe\"\n", "`min_severity` is"),
        ("[[rules]]\ntype = \"licence\"\n", "needs `allow` or `deny`"),
        ("[[rules]]\ntype = \"licence\"\nallow = [\"Not-A-Licence\"]\n", "not an SPDX licence id"),
        ("[[rules]]\ntype = \"licence\"\ndeny = [\"GPL-3.0\"]\nmissing_licence = \"x\"\n", "\"deny\" or \"allow\""),
        ("[[rules]]\ntype = \"release_age\"\n", "`min_age` is required"),
        ("[[rules]]\ntype = \"release_age\"\nmin_age = \"3 weeks\"\n", "unit must be"),
        (
            "[[rules]]\ntype = \"release_age\"\nmin_age = \"1h\"\nmissing_timestamp = \"maybe\"\n",
            "\"deny\" or \"allow\"",
        ),
        ("[[rules]]\ntype = \"release_age\"\nmin_age = \"1h\"\nbypas = []\n", "unknown key `bypas`"),
        ("[[rules]]\ntype = \"version\"\n", "needs `allow` or `deny`"),
        ("[[rules]]\ntype = \"version\"\ndeny = [\"a@^1\"]\n", "exact versions only"),
        ("[[rules]]\ntype = \"version\"\ndeny = [\"bad name\"]\n", "not a package name"),
        ("[[rules]]\ntype = \"version\"\ndeny = \"a\"\n", "list of strings"),
    ];
    for (text, wanted) in cases {
        let errors = rules(text).expect_err(text);
        assert!(errors.iter().any(|e| e.contains(wanted) && e.starts_with("rule 1: ")), "{text}: {errors:?}");
    }
}

#[test]
fn exact_versions_are_the_default_range_syntax() {
    let m = exact_versions("=1.2.3").expect("exact");
    assert!(m("1.2.3") && !m("1.2.4"));
    for bad in ["^1", ">=1", "1 - 2", "1.x || 2", ""] {
        assert!(exact_versions(bad).is_err(), "{bad}");
    }
}

#[test]
fn explain_answers_for_every_rule() {
    let p = rules(
        "[[rules]]\ntype = \"version\"\ndeny = [\"a@1.0.0\"]\n[[rules]]\ntype = \"release_age\"\nmin_age = \"1h\"\n",
    )
    .expect("ok");
    let caller = Caller { groups: &[], admin: false };
    let answers = p.explain(&candidate("a", "1.0.0", Some(NOW)), &caller, NOW);
    let kinds: Vec<(&str, bool)> = answers.iter().map(|(k, r)| (*k, r.is_ok())).collect();
    assert_eq!(kinds, vec![("version", false), ("release_age", false)], "both deny, both said");
    let answers = p.explain(&candidate("a", "1.0.1", Some(0)), &caller, NOW);
    assert!(answers.iter().all(|(_, r)| r.is_ok()));
}

/// An advisories rule over `records` (each an OSV record as JSON).
fn advisories_rule(extra: &str, records: &[serde_json::Value]) -> RuleSet {
    let set = rules(&format!("[[rules]]\ntype = \"advisories\"\nsource = \"/osv\"\n{extra}")).expect("ok");
    let Rule::Advisories(rule) = &set.rules[0] else { panic!("an advisories rule") };
    let mut builder = advisories::IndexBuilder::new(rule.target);
    for r in records {
        builder.add(r.to_string().as_bytes()).expect("a record");
    }
    rule.data.set(builder.finish(NOW));
    set
}

fn osv(id: &str, name: &str, affected: serde_json::Value, severity: Option<&str>) -> serde_json::Value {
    let mut record = serde_json::json!({
        "id": id,
        "summary": format!("{id} summary"),
        "affected": [{"package": {"ecosystem": "npm", "name": name}}],
    });
    for (k, v) in affected.as_object().expect("object") {
        record["affected"][0][k] = v.clone();
    }
    if let Some(s) = severity {
        record["database_specific"] = serde_json::json!({"severity": s});
    }
    record
}

#[test]
fn advisories_block_malicious_packages_always_and_vulnerabilities_from_a_severity() {
    let records = [
        osv(
            "MAL-2026-1",
            "evil-pkg",
            serde_json::json!({"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}),
            None,
        ),
        osv(
            "GHSA-low",
            "lib",
            serde_json::json!({"ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.2.0"}]}]}),
            Some("LOW"),
        ),
        osv("GHSA-crit", "lib", serde_json::json!({"versions": ["1.5.0"]}), Some("CRITICAL")),
        osv(
            "GHSA-nosev",
            "other",
            serde_json::json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0.0"}, {"last_affected": "2.1.0"}]}]}),
            None,
        ),
    ];
    let all = advisories_rule("", &records);
    let d = check(&all, "evil-pkg", "9.9.9", Some(0), &["admin"]).expect_err("malicious");
    assert_eq!(d.rule, "advisories");
    assert_eq!(d.advisories, vec!["MAL-2026-1".to_string()]);
    assert!(d.message.contains("MAL-2026-1") && d.message.contains("malicious"), "{}", d.message);
    // Ranges: introduced..fixed, fixed excluded.
    assert_eq!(check(&all, "lib", "0.9.0", None, &[]), Ok(()));
    assert!(check(&all, "lib", "1.0.0", None, &[]).is_err());
    assert!(check(&all, "lib", "1.1.9", None, &[]).is_err());
    assert_eq!(check(&all, "lib", "1.2.0", None, &[]), Ok(()));
    // Listed versions.
    assert_eq!(check(&all, "lib", "1.5.0", None, &[]).expect_err("listed").advisories, vec!["GHSA-crit".to_string()]);
    // last_affected is included; after it, not.
    assert!(check(&all, "other", "2.1.0", None, &[]).is_err());
    assert_eq!(check(&all, "other", "2.1.1", None, &[]), Ok(()));
    // A package no advisory names.
    assert_eq!(check(&all, "fine", "1.0.0", None, &[]), Ok(()));

    let high = advisories_rule("min_severity = \"high\"\n", &records);
    assert_eq!(check(&high, "lib", "1.1.0", None, &[]), Ok(()), "low is below the floor");
    assert!(check(&high, "lib", "1.5.0", None, &[]).is_err(), "critical is above it");
    assert!(check(&high, "evil-pkg", "1.0.0", None, &[]).is_err(), "malicious, whatever the floor");
    assert!(check(&high, "other", "2.0.5", None, &[]).is_err(), "no severity given: not known to be below");
}

#[test]
fn advisories_read_severity_from_cvss_vectors_and_skip_withdrawn_and_informational_records() {
    let mut scored = osv("GHSA-cvss", "lib", serde_json::json!({"versions": ["1.0.0"]}), None);
    scored["severity"] =
        serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}]);
    let mut withdrawn = osv("GHSA-gone", "lib", serde_json::json!({"versions": ["2.0.0"]}), Some("HIGH"));
    withdrawn["withdrawn"] = serde_json::json!("2026-01-01T00:00:00Z");
    let mut notice = osv("RUSTSEC-unmaintained", "lib", serde_json::json!({"versions": ["3.0.0"]}), None);
    notice["database_specific"] = serde_json::json!({"informational": "unmaintained"});
    let mut aliased = osv("GHSA-mal", "bad", serde_json::json!({"versions": ["1.0.0"]}), Some("LOW"));
    aliased["aliases"] = serde_json::json!(["MAL-2026-9"]);
    let mut other_ecosystem = osv("PYSEC-1", "lib", serde_json::json!({"versions": ["4.0.0"]}), None);
    other_ecosystem["affected"][0]["package"]["ecosystem"] = serde_json::json!("PyPI");
    let by_purl = serde_json::json!({"id": "X-1", "affected": [{"package": {"ecosystem": "", "name": "Purl-Pkg", "purl": "pkg:npm/purl-pkg"}, "versions": ["1.0.0"]}]});
    let set =
        advisories_rule("min_severity = \"medium\"\n", &[scored, withdrawn, notice, aliased, other_ecosystem, by_purl]);
    // CVSS 5.3 is medium.
    assert!(check(&set, "lib", "1.0.0", None, &[]).is_err());
    assert_eq!(check(&set, "lib", "2.0.0", None, &[]), Ok(()), "withdrawn");
    assert_eq!(check(&set, "lib", "3.0.0", None, &[]), Ok(()), "informational");
    assert!(check(&set, "bad", "1.0.0", None, &[]).is_err(), "a MAL- alias is malicious");
    assert_eq!(check(&set, "lib", "4.0.0", None, &[]), Ok(()), "another ecosystem's record");
    assert!(check(&set, "purl-pkg", "1.0.0", None, &[]).is_err(), "matched by purl, name normalised");
}

#[test]
fn advisories_not_read_yet_hold_back_and_bad_records_are_counted() {
    let set = rules("[[rules]]\ntype = \"advisories\"\nsource = \"https://osv.example/npm/all.zip\"\n").expect("ok");
    let d = check(&set, "lib", "1.0.0", None, &[]).expect_err("not read");
    assert!(d.message.contains("not been read"), "{}", d.message);
    let Rule::Advisories(rule) = &set.rules[0] else { panic!("advisories") };
    assert_eq!(rule.source, Source::Url("https://osv.example/npm/all.zip".into()));
    let mut b = advisories::IndexBuilder::new(rule.target);
    assert!(b.add(b"not json").is_err());
    assert!(b.add(b"{\"id\": \"\"}").is_err());
    assert!(b.add(&vec![b' '; advisories::MAX_RECORD_BYTES + 1]).is_err());
    let index = b.finish(NOW);
    assert_eq!((index.records, index.unreadable), (0, 3));
    rule.data.set(index);
    assert_eq!(check(&set, "lib", "1.0.0", None, &[]), Ok(()));
    assert_eq!(Source::parse("/srv/osv.ZIP"), Ok(Source::Zip("/srv/osv.ZIP".into())));
    assert_eq!(Source::parse("/srv/osv"), Ok(Source::Folder("/srv/osv".into())));
    assert!(Source::parse("https://user:pw@osv.example/all.zip").is_err());
}

fn licensed<'a>(name: &'a str, licence: Option<&'a str>) -> Candidate<'a> {
    Candidate { name, version: "1.0.0", published_at: None, licence }
}

#[test]
fn licence_rules_read_spdx_expressions() {
    let caller = Caller { groups: &[], admin: false };
    let allow =
        rules("[[rules]]\ntype = \"licence\"\nallow = [\"MIT\", \"Apache-2.0\", \"BSD-3-Clause\"]\n").expect("ok");
    for ok in ["MIT", "Apache-2.0 OR GPL-3.0-only", "MIT AND BSD-3-Clause", "MIT/GPL-2.0", "(MIT OR ISC)"] {
        assert_eq!(allow.check(&licensed("a", Some(ok)), &caller, NOW), Ok(()), "{ok}");
    }
    for bad in ["GPL-3.0-only", "MIT AND GPL-3.0-only", "ISC"] {
        let d = allow.check(&licensed("a", Some(bad)), &caller, NOW).expect_err(bad);
        assert_eq!(d.rule, "licence");
        assert!(d.message.contains(bad), "{}", d.message);
    }
    // With an allow list, no licence (or one that is not SPDX) is not known to be allowed.
    assert!(allow.check(&licensed("a", None), &caller, NOW).is_err());
    assert!(allow.check(&licensed("a", Some("SEE LICENSE IN LICENSE")), &caller, NOW).is_err());
    let deny = rules("[[rules]]\ntype = \"licence\"\ndeny = [\"GPL-3.0-only\", \"AGPL-3.0-only\"]\n").expect("ok");
    assert_eq!(deny.check(&licensed("a", Some("MIT")), &caller, NOW), Ok(()));
    assert_eq!(deny.check(&licensed("a", Some("MIT OR GPL-3.0-only")), &caller, NOW), Ok(()), "a way out");
    assert!(deny.check(&licensed("a", Some("GPL-3.0-only")), &caller, NOW).is_err());
    assert!(deny.check(&licensed("a", Some("MIT AND AGPL-3.0-only")), &caller, NOW).is_err());
    assert_eq!(deny.check(&licensed("a", None), &caller, NOW), Ok(()), "only a deny list: missing passes");
    let strict =
        rules("[[rules]]\ntype = \"licence\"\ndeny = [\"GPL-3.0-only\"]\nmissing_licence = \"deny\"\n").expect("ok");
    assert!(strict.check(&licensed("a", None), &caller, NOW).is_err());
    // Answers are remembered: the same again.
    assert!(deny.check(&licensed("a", Some("GPL-3.0-only")), &caller, NOW).is_err());
}

#[test]
fn types_without_osv_or_licences_refuse_those_rules() {
    let syntax = Syntax { osv: None, licences: false, ..SYNTAX };
    let doc: toml::Table = toml::from_str(
        "[[rules]]\ntype = \"advisories\"\nsource = \"/osv\"\n[[rules]]\ntype = \"licence\"\ndeny = [\"MIT\"]\n",
    )
    .expect("toml");
    let tables: Vec<toml::Table> =
        doc["rules"].as_array().expect("rules").iter().filter_map(|t| t.as_table().cloned()).collect();
    let errors = RuleSet::parse(&tables, &syntax).expect_err("refused");
    assert!(errors[0].contains("OSV has no advisories"), "{errors:?}");
    assert!(errors[1].contains("declares no licences"), "{errors:?}");
}

#[test]
fn a_judgement_holds_until_the_next_version_comes_of_age_and_knows_bypass_classes() {
    let p = rules("[[rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\nbypass = [\"team\"]\n").expect("ok");
    let nobody = Caller { groups: &[], admin: false };
    let team = ["team".to_string()];
    let member = Caller { groups: &team, admin: false };
    assert_ne!(p.caller_class(&nobody), p.caller_class(&member));
    let list = [
        candidate("a", "1.0.0", Some(NOW - 100 * HOUR)),
        candidate("a", "1.1.0", Some(NOW - 70 * HOUR)),
        candidate("a", "1.2.0", Some(NOW - HOUR)),
    ];
    let j = p.judge(&list, &nobody, NOW);
    assert!(!j.all);
    assert_eq!(j.allowed, ["1.0.0".to_string()].into_iter().collect());
    assert_eq!(j.valid_until, NOW - 70 * HOUR + 72 * HOUR, "1.1.0 comes of age first");
    let later = p.judge(&list, &nobody, j.valid_until);
    assert!(later.allowed.contains("1.1.0") && later.fingerprint != j.fingerprint);
    let all = p.judge(&list, &member, NOW);
    assert!(all.all && all.valid_until == i64::MAX);
    let versions = rules("[[rules]]\ntype = \"version\"\ndeny = [\"a@1.0.0\"]\n").expect("ok");
    assert_eq!(versions.caller_class(&member), 0, "no bypass to be in");
    assert_eq!(versions.judge(&list, &nobody, NOW).valid_until, i64::MAX, "no time changes a version rule's answer");
}

#[test]
fn rules_marked_local_also_judge_published_packages() {
    let p = rules("[[rules]]\ntype = \"version\"\ndeny = [\"a@1.0.0\"]\nlocal = true\n[[rules]]\ntype = \"release_age\"\nmin_age = \"1h\"\n")
        .expect("ok");
    assert_eq!(p.rules.len(), 2, "every rule judges upstream versions");
    let local = p.local.as_ref().expect("a local subset");
    assert_eq!(local.rules.iter().map(Rule::kind).collect::<Vec<_>>(), ["version"]);
    assert!(rules("[[rules]]\ntype = \"version\"\ndeny = [\"a\"]\n").expect("ok").local.is_none());
    let errors = rules("[[rules]]\ntype = \"version\"\ndeny = [\"a\"]\nlocal = 1\n").expect_err("not a bool");
    assert!(errors[0].contains("`local` is true or false"), "{errors:?}");
}

#[test]
fn documents_of_many_packages_are_judged_by_position() {
    let p =
        rules("[[rules]]\ntype = \"release_age\"\nmin_age = \"72h\"\n[[rules]]\ntype = \"version\"\ndeny = [\"b\"]\n")
            .expect("ok");
    let caller = Caller { groups: &[], admin: false };
    let list = [
        candidate("a", "1.0.0", Some(NOW - 100 * HOUR)),
        candidate("b", "1.0.0", Some(NOW - 100 * HOUR)),
        candidate("a", "1.1.0", Some(NOW - HOUR)),
    ];
    let j = p.judge_each(&list, &caller, NOW);
    assert_eq!(j.positions, [true, false, false]);
    assert!(!j.all && j.allowed.is_empty());
    assert_eq!(j.valid_until, NOW - HOUR + 72 * HOUR);
    assert!(p.judge_each(&list[..1], &caller, NOW).all);
}
