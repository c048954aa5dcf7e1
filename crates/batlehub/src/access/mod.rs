//! What a caller may do: permissions, roles, groups, visibility.
//!
//! Architecture invariant: this module is pure. It does no I/O and knows no
//! ecosystem; every request's permission is decided by [`decide`] once, before
//! any I/O, and every local package's visibility by [`can_see`]. The whole
//! matrix is table-tested below.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A permission an operation needs on a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Metadata, listings and binary assets.
    ReleasesRead,
    /// Source archives: npm tarballs, .crate files, Go module zips, sdists.
    SourceRead,
    /// Publish, yank, change dist-tags, deprecate, unpublish.
    ReleasesWrite,
    /// Everything.
    All,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReleasesRead => "releases:read",
            Permission::SourceRead => "source:read",
            Permission::ReleasesWrite => "releases:write",
            Permission::All => "*",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "releases:read" => Permission::ReleasesRead,
            "source:read" => Permission::SourceRead,
            "releases:write" => Permission::ReleasesWrite,
            "*" => Permission::All,
            _ => return None,
        })
    }

    /// Whether holding `self` grants `wanted`.
    pub fn grants(self, wanted: Permission) -> bool {
        self == Permission::All || self == wanted
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Permission::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown permission `{s}`, expected one of `releases:read`, `source:read`, `releases:write`, `*`"
            ))
        })
    }
}

/// Roles are ordered: anonymous ⊂ user ⊂ admin. A role inherits the grants of
/// the roles below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Anonymous,
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Anonymous => "anonymous",
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "anonymous" => Role::Anonymous,
            "user" => Role::User,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// Who is calling, once credentials have been resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `None` for the anonymous caller.
    pub user_id: Option<String>,
    pub role: Role,
    /// Group names with spaces removed (`oidc:my team` is `oidc:myteam`).
    pub groups: Vec<String>,
    /// Which provider vouched for this identity (`token`, `api-token`, ...).
    pub provider: String,
    /// What a token or session this caller makes descends from.
    pub lineage: Lineage,
}

/// Where a caller's credential comes from: what a token or a browser session
/// it makes descends from, and so what it dies with and what caps its life.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lineage {
    /// The API token the credential is, or descends from: what it makes is
    /// its child, and is revoked with it.
    pub token_id: Option<String>,
    /// When the credential's parent stops working (epoch ms): nothing it
    /// makes outlives it.
    pub expires_at: Option<i64>,
    /// A bearer credential issued elsewhere (a provider's JWT, a Kubernetes
    /// token): what it makes lives only a short while.
    pub federated: bool,
    /// The static token of the configuration the credential stands on: what
    /// it makes stops working once that entry is gone or lost the role.
    pub authority: Option<Authority>,
}

/// A static identity of the configuration, and the role it must still have
/// for what was made in its name to stay valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The `[[auth]]` provider's name.
    pub provider: String,
    pub user_id: String,
    pub role: Role,
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal {
            user_id: None,
            role: Role::Anonymous,
            groups: Vec::new(),
            provider: "anonymous".into(),
            lineage: Lineage::default(),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.user_id.is_none() && self.role == Role::Anonymous
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// What decides which packages this caller may see ([`can_see`]): two
    /// callers of one class see the same packages, so documents filtered by
    /// visibility may be shared between them.
    pub fn visibility_class(&self) -> String {
        if self.is_admin() {
            return "admin".into();
        }
        if self.is_anonymous() {
            return "anonymous".into();
        }
        let mut groups: Vec<String> = self.groups.iter().map(|g| normalize_group(g)).collect();
        groups.sort();
        groups.dedup();
        format!("user:{}", groups.join("\n"))
    }

    pub fn in_group(&self, group: &str) -> bool {
        let wanted = normalize_group(group);
        self.groups.iter().any(|g| normalize_group(g) == wanted)
    }

    /// A short name for logs and audit rows.
    pub fn label(&self) -> String {
        self.user_id.clone().unwrap_or_else(|| "anonymous".into())
    }
}

/// The kinds of provider whose user ids are scoped: `<kind>:<provider>:<id>`.
pub const SCOPED_ID_KINDS: &[&str] = &["oidc", "actions", "kubernetes"];

/// The user id of someone a provider other than the static tokens vouches
/// for: `oidc:<provider>:<sub>`, `actions:<provider>:<sub>`,
/// `kubernetes:<provider>:<username>`. Static user ids may not take these
/// forms (the configuration refuses them), so no provider's subject is ever
/// a static user, and two providers' subjects never meet.
pub fn scoped_user_id(kind: &str, provider: &str, id: &str) -> String {
    format!("{kind}:{provider}:{id}")
}

/// Whether `id` has the form of a provider-scoped user id.
pub fn is_scoped_user_id(id: &str) -> bool {
    SCOPED_ID_KINDS.iter().any(|k| id.strip_prefix(k).is_some_and(|rest| rest.starts_with(':')))
}

/// Group names never contain spaces: package prefixes cannot, and IdPs often do.
pub fn normalize_group(group: &str) -> String {
    group.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The grants of one registry, already resolved from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub anonymous: Vec<Permission>,
    pub user: Vec<Permission>,
    pub admin: Vec<Permission>,
    /// `(group or glob, permissions)`, matched against the caller's groups.
    pub groups: Vec<(String, Vec<Permission>)>,
}

impl Grants {
    /// The defaults for a registry without `[registries.rbac]`: anonymous
    /// nothing; user reads (and writes where publishing exists); admin all.
    pub fn defaults(writable: bool) -> Self {
        let mut user = vec![Permission::ReleasesRead, Permission::SourceRead];
        if writable {
            user.push(Permission::ReleasesWrite);
        }
        Grants { anonymous: Vec::new(), user, admin: vec![Permission::All], groups: Vec::new() }
    }

    fn role_grants(&self, role: Role, wanted: Permission) -> bool {
        let lists: &[&Vec<Permission>] = match role {
            Role::Anonymous => &[&self.anonymous],
            Role::User => &[&self.anonymous, &self.user],
            Role::Admin => &[&self.anonymous, &self.user, &self.admin],
        };
        lists.iter().any(|list| list.iter().any(|p| p.grants(wanted)))
    }

    fn group_grants(&self, principal: &Principal, wanted: Permission) -> bool {
        self.groups.iter().any(|(pattern, perms)| {
            perms.iter().any(|p| p.grants(wanted)) && principal.groups.iter().any(|g| group_matches(pattern, g))
        })
    }
}

/// `pattern` is an exact group name or a glob where `*` matches any run of
/// characters; spaces are ignored on both sides.
pub fn group_matches(pattern: &str, group: &str) -> bool {
    let pattern = normalize_group(pattern);
    let group = normalize_group(group);
    glob_match(pattern.as_bytes(), group.as_bytes())
}

/// `*` matches any run of bytes; everything else matches itself.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last star: linear in practice.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The outcome of an access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Anonymous caller: answer 401 with a challenge so the client retries
    /// with credentials.
    Unauthenticated,
    /// Authenticated but not permitted: 403.
    Forbidden,
}

/// The one permission decision: may `principal` exercise `wanted` on a
/// registry with `grants`?
pub fn decide(principal: &Principal, grants: &Grants, wanted: Permission) -> Decision {
    if grants.role_grants(principal.role, wanted) || grants.group_grants(principal, wanted) {
        Decision::Allow
    } else if principal.is_anonymous() {
        Decision::Unauthenticated
    } else {
        Decision::Forbidden
    }
}

/// Visibility of a local package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone the registry's grants let in.
    #[default]
    Public,
    /// Any authenticated identity.
    Internal,
    /// Members of the group that claims the package's namespace.
    Team,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
            Visibility::Team => "team",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "public" => Visibility::Public,
            "internal" => Visibility::Internal,
            "team" => Visibility::Team,
            _ => return None,
        })
    }
}

/// May `principal` see a package with `visibility`, whose namespace is
/// claimed by `claim_group` (the longest matching claim, if any)? A `team`
/// package without a claim is visible to admins only: it fails closed.
pub fn can_see(principal: &Principal, visibility: Visibility, claim_group: Option<&str>) -> bool {
    if principal.is_admin() {
        return true;
    }
    match visibility {
        Visibility::Public => true,
        Visibility::Internal => !principal.is_anonymous(),
        Visibility::Team => claim_group.is_some_and(|g| principal.in_group(g)),
    }
}

/// What an invisible package answers: 401 to the anonymous caller (so that it
/// may authenticate), 404 to everybody else (its existence is not revealed).
pub fn hidden_decision(principal: &Principal) -> Decision {
    if principal.is_anonymous() { Decision::Unauthenticated } else { Decision::Forbidden }
}

/// May `principal` publish a new version of a package (or change its tags,
/// deprecate, unpublish)? `owners` are `(is_group, id)` pairs; `claim_group`
/// is the group claiming the package's namespace. Publishing a *new* package
/// needs only the claim's group, if there is a claim.
pub fn may_write_package(
    principal: &Principal,
    exists: bool,
    owners: &[(bool, String)],
    claim_group: Option<&str>,
) -> bool {
    if principal.is_admin() {
        return true;
    }
    if let Some(group) = claim_group
        && principal.in_group(group)
    {
        return true;
    }
    if !exists {
        // A new name is open to any writer unless a namespace claim reserves it.
        return claim_group.is_none();
    }
    // An existing package without owners fails closed: admins and the
    // claim's group (above) only.
    owners.iter().any(|(is_group, id)| {
        if *is_group { principal.in_group(id) } else { principal.user_id.as_deref() == Some(id.as_str()) }
    })
}

/// The claim covering `name`: the longest prefix `p` with `name == p` or
/// `name` starting with `p` followed by `/`, or, for a prefix that itself
/// ends in a separator (`@myorg/`, `myorg-`, `myorg_`, `myorg.`), any name
/// starting with it.
pub fn longest_claim<'a>(name: &str, claims: &'a [(String, String)]) -> Option<&'a (String, String)> {
    claims.iter().filter(|(prefix, _)| claim_covers(prefix, name)).max_by_key(|(prefix, _)| prefix.len())
}

/// Whether the claim `prefix` covers `name`, ignoring ASCII case (npm
/// scopes and names of other ecosystems are compared case-insensitively; the
/// ecosystems normalise the rest of their spelling rules into prefixes).
pub fn claim_covers(prefix: &str, name: &str) -> bool {
    if prefix.is_empty() || name.len() < prefix.len() {
        return false;
    }
    let (head, rest) = name.split_at_checked(prefix.len()).unwrap_or((name, ""));
    if !head.eq_ignore_ascii_case(prefix) {
        return false;
    }
    rest.is_empty() || prefix.ends_with(['/', '-', '_', '.', ':']) || rest.starts_with('/')
}

#[cfg(test)]
mod tests;
