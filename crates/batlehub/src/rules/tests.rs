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

fn rules(toml_text: &str) -> Result<RuleSet, Vec<String>> {
    let doc: toml::Table = toml::from_str(toml_text).expect("toml");
    let tables: Vec<toml::Table> = doc
        .get("rules")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_table().cloned()).collect())
        .unwrap_or_default();
    RuleSet::parse(&tables, &ranges, &normalize)
}

fn check(p: &RuleSet, name: &str, version: &str, published_at: Option<i64>, groups: &[&str]) -> Result<(), Denial> {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    p.check(&Candidate { name, version, published_at }, &Caller { groups: &groups, admin: false }, NOW)
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
    assert_eq!(p.check(&Candidate { name: "a", version: "1.0.0", published_at: Some(NOW) }, &admin, NOW), Ok(()));
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
    let versions = [("1.0.0", Some(0)), ("1.0.1", Some(0)), ("1.0.2", Some(NOW))];
    assert_eq!(p.allowed("a", versions, &caller, NOW), vec!["1.0.1"]);
}

#[test]
fn bad_rules_are_refused_with_what_is_wrong() {
    let cases = [
        ("[[rules]]\nmin_age = \"1h\"\n", "needs a `type`"),
        ("[[rules]]\ntype = \"cooldown\"\n", "unknown rule type `cooldown`"),
        ("[[rules]]\ntype = \"advisories\"\n", "not available yet"),
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
    let answers = p.explain(&Candidate { name: "a", version: "1.0.0", published_at: Some(NOW) }, &caller, NOW);
    let kinds: Vec<(&str, bool)> = answers.iter().map(|(k, r)| (*k, r.is_ok())).collect();
    assert_eq!(kinds, vec![("version", false), ("release_age", false)], "both deny, both said");
    let answers = p.explain(&Candidate { name: "a", version: "1.0.1", published_at: Some(0) }, &caller, NOW);
    assert!(answers.iter().all(|(_, r)| r.is_ok()));
}
