use super::*;

fn who(role: Role, groups: &[&str]) -> Principal {
    Principal {
        user_id: if role == Role::Anonymous { None } else { Some("alice".into()) },
        role,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        provider: "test".into(),
        lineage: Lineage::default(),
    }
}

use Permission::*;

#[test]
fn default_grants_matrix() {
    // (writable registry, role, permission, expected)
    let cases = [
        (true, Role::Anonymous, ReleasesRead, Decision::Unauthenticated),
        (true, Role::Anonymous, SourceRead, Decision::Unauthenticated),
        (true, Role::Anonymous, ReleasesWrite, Decision::Unauthenticated),
        (true, Role::User, ReleasesRead, Decision::Allow),
        (true, Role::User, SourceRead, Decision::Allow),
        (true, Role::User, ReleasesWrite, Decision::Allow),
        (true, Role::User, All, Decision::Forbidden),
        (true, Role::Admin, ReleasesWrite, Decision::Allow),
        (true, Role::Admin, All, Decision::Allow),
        (false, Role::User, ReleasesRead, Decision::Allow),
        (false, Role::User, SourceRead, Decision::Allow),
        (false, Role::User, ReleasesWrite, Decision::Forbidden),
        (false, Role::Admin, ReleasesWrite, Decision::Allow),
        (false, Role::Anonymous, ReleasesRead, Decision::Unauthenticated),
    ];
    for (writable, role, perm, expected) in cases {
        let grants = Grants::defaults(writable);
        assert_eq!(decide(&who(role, &[]), &grants, perm), expected, "{writable} {role:?} {perm}");
    }
}

#[test]
fn roles_inherit_and_groups_add() {
    let grants = Grants {
        anonymous: vec![ReleasesRead],
        user: vec![SourceRead],
        admin: vec![],
        groups: vec![("oidc:release team".into(), vec![ReleasesWrite]), ("github-actions/myorg-*".into(), vec![All])],
    };
    let cases: &[(Role, &[&str], Permission, Decision)] = &[
        (Role::Anonymous, &[], ReleasesRead, Decision::Allow),
        (Role::Anonymous, &[], SourceRead, Decision::Unauthenticated),
        (Role::User, &[], ReleasesRead, Decision::Allow), // inherited from anonymous
        (Role::User, &[], SourceRead, Decision::Allow),
        (Role::User, &[], ReleasesWrite, Decision::Forbidden),
        (Role::Admin, &[], SourceRead, Decision::Allow), // inherited from user
        (Role::Admin, &[], ReleasesWrite, Decision::Forbidden), // admin list emptied by config
        (Role::User, &["oidc:releaseteam"], ReleasesWrite, Decision::Allow), // spaces ignored
        (Role::User, &["oidc:release team"], ReleasesWrite, Decision::Allow),
        (Role::User, &["oidc:other"], ReleasesWrite, Decision::Forbidden),
        (Role::User, &["github-actions/myorg-repo/main"], ReleasesWrite, Decision::Allow), // glob
        (Role::User, &["github-actions/other-repo/main"], ReleasesWrite, Decision::Forbidden),
    ];
    for (role, groups, perm, expected) in cases {
        assert_eq!(decide(&who(*role, groups), &grants, *perm), *expected, "{role:?} {groups:?} {perm}");
    }
}

#[test]
fn globs() {
    assert!(group_matches("*", "anything"));
    assert!(group_matches("a*c", "abbbc"));
    assert!(group_matches("*:team", "oidc:team"));
    assert!(!group_matches("*:team", "oidc:teams"));
    assert!(group_matches("a*b*c", "aXbYbZc"));
    assert!(!group_matches("abc", "abcd"));
    assert!(group_matches("ab*", "ab"));
}

#[test]
fn visibility_matrix() {
    let anon = who(Role::Anonymous, &[]);
    let user = who(Role::User, &[]);
    let member = who(Role::User, &["oidc:front end"]);
    let admin = who(Role::Admin, &[]);
    let claim = Some("oidc:frontend");
    let cases = [
        (&anon, Visibility::Public, claim, true),
        (&anon, Visibility::Internal, claim, false),
        (&anon, Visibility::Team, claim, false),
        (&user, Visibility::Public, claim, true),
        (&user, Visibility::Internal, claim, true),
        (&user, Visibility::Team, claim, false),
        (&member, Visibility::Team, claim, true),
        (&member, Visibility::Team, None, false), // no claim: fails closed
        (&admin, Visibility::Team, None, true),
    ];
    for (p, vis, claim, expected) in cases {
        assert_eq!(can_see(p, vis, claim), expected, "{p:?} {vis:?} {claim:?}");
    }
    assert_eq!(hidden_decision(&anon), Decision::Unauthenticated);
    assert_eq!(hidden_decision(&user), Decision::Forbidden);
}

#[test]
fn write_ownership() {
    let alice = who(Role::User, &[]);
    let mut bob = who(Role::User, &["oidc:myorg"]);
    bob.user_id = Some("bob".into());
    let admin = who(Role::Admin, &[]);
    let owners = vec![(false, "alice".to_string())];
    // New package, no claim: anyone with write.
    assert!(may_write_package(&bob, false, &[], None));
    // New package under a claim: claim group or admin only.
    assert!(!may_write_package(&alice, false, &[], Some("oidc:myorg")));
    assert!(may_write_package(&bob, false, &[], Some("oidc:myorg")));
    assert!(may_write_package(&admin, false, &[], Some("oidc:myorg")));
    // Existing package: owners, claim group, admin.
    assert!(may_write_package(&alice, true, &owners, None));
    assert!(!may_write_package(&bob, true, &owners, None));
    assert!(may_write_package(&bob, true, &owners, Some("oidc:myorg")));
    assert!(may_write_package(&admin, true, &owners, None));
    // Group owners.
    assert!(may_write_package(&bob, true, &[(true, "oidc:myorg".into())], None));
    // An existing package without owners fails closed.
    assert!(!may_write_package(&alice, true, &[], None));
    assert!(may_write_package(&bob, true, &[], Some("oidc:myorg")));
    assert!(may_write_package(&admin, true, &[], None));
}

#[test]
fn claims() {
    let claims = vec![
        ("@myorg".to_string(), "g1".to_string()),
        ("@myorg/ui".to_string(), "g2".to_string()),
        ("exact".to_string(), "g3".to_string()),
    ];
    assert_eq!(longest_claim("@myorg/core", &claims).map(|c| c.1.as_str()), Some("g1"));
    assert_eq!(longest_claim("@myorg/ui", &claims).map(|c| c.1.as_str()), Some("g2"));
    assert_eq!(longest_claim("@myorg/ui/x", &claims).map(|c| c.1.as_str()), Some("g2"));
    assert_eq!(longest_claim("@myorgx/core", &claims), None);
    assert_eq!(longest_claim("exact", &claims).map(|c| c.1.as_str()), Some("g3"));
    assert_eq!(longest_claim("exactly", &claims), None);
    assert!(claim_covers("@myorg/", "@myorg/a"));
    assert!(claim_covers("myorg-", "myorg-utils"));
    assert!(!claim_covers("myorg-", "myorgutils"));
    assert!(!claim_covers("myorg", "myorg-utils"));
}

#[test]
fn claims_cover_names_whatever_their_case() {
    assert!(claim_covers("@frontend/", "@FRONTEND/x"));
    assert!(claim_covers("@frontend", "@Frontend/x"));
    assert!(claim_covers("@frontend", "@frontend"));
    assert!(!claim_covers("@frontend", "@frontends/x"));
    assert!(claim_covers("myorg-", "MyOrg-utils"));
    assert!(!claim_covers("myorg-", "myor"));
    assert!(!claim_covers("é-", "É-x"), "only ASCII case folds");
}

#[test]
fn provider_user_ids_are_scoped() {
    assert_eq!(scoped_user_id("oidc", "corp", "alice"), "oidc:corp:alice");
    for id in ["oidc:corp:alice", "actions:gh:repo:x", "kubernetes:k:system:serviceaccount:a:b"] {
        assert!(is_scoped_user_id(id), "{id}");
    }
    for id in ["alice", "oidcx:a", "group:oidc:x", "oidc", "kube:x"] {
        assert!(!is_scoped_user_id(id), "{id}");
    }
}
