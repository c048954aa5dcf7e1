//! Client configuration snippets: the one source of the Setup Guide page
//! (`/setup`), the package browser's install commands, the namespace
//! dashboard's CLI instructions, and the files the real-client tests write.
//! A snippet that stops working therefore fails CI.
//!
//! The types live here; each ecosystem writes its own snippets
//! (`ecosystems/*/setup.rs`), reached through `ecosystems::setup_snippets`.

use crate::access::Permission;
use crate::config::{Mode, RegistryConfig};

/// Where a token goes in a snippet that cannot read the environment.
pub const TOKEN: &str = "<your-token>";
/// Where the user id goes (`~/.netrc` logins).
pub const USER: &str = "<your-user-id>";
/// What snippets that can read the environment use.
pub const TOKEN_ENV: &str = "${BATLEHUB_TOKEN}";

/// The registry a snippet is for, as this server's users reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's public base URL, without a trailing slash.
    pub base: String,
    pub registry: String,
    pub mode: Mode,
    /// Where packages are published: this registry (local or hybrid), or
    /// for a group the local registry among its members; `None` when
    /// nothing can be published through it.
    pub publish_to: Option<String>,
    /// Whether it serves packages from upstream registries.
    pub upstream: bool,
    /// Whether anonymous callers may read it (and its members): clients
    /// then need no credentials to install.
    pub anonymous_read: bool,
}

impl Target {
    /// The target of `r`, served at `base`, among the registries `all`.
    pub fn of(base: &str, r: &RegistryConfig, all: &[RegistryConfig]) -> Target {
        let publish_to = if r.mode.has_local() {
            Some(r.name.clone())
        } else {
            r.members.iter().find(|m| all.iter().any(|o| &o.name == *m && o.mode.has_local())).cloned()
        };
        let open = |c: &RegistryConfig| {
            c.rbac.as_ref().and_then(|x| x.anonymous.as_ref()).is_some_and(|a| {
                a.iter().any(|p| matches!(p, Permission::ReleasesRead | Permission::All))
                    && a.iter().any(|p| matches!(p, Permission::SourceRead | Permission::All))
            })
        };
        let members = r.members.iter().filter_map(|m| all.iter().find(|o| &o.name == m));
        let anonymous_read = open(r) && members.into_iter().all(open);
        Target {
            base: base.to_string(),
            registry: r.name.clone(),
            mode: r.mode,
            publish_to,
            upstream: r.mode.has_upstream() && !r.upstreams.is_empty(),
            anonymous_read,
        }
    }

    /// The target of the registry called `name` among `all` (a local one of
    /// that name if it is not configured).
    pub fn named(base: &str, name: &str, all: &[RegistryConfig]) -> Target {
        all.iter().find(|r| r.name == name).map_or_else(|| Target::local(base, name), |r| Target::of(base, r, all))
    }

    /// A local registry `name` at `base`.
    pub fn local(base: &str, name: &str) -> Target {
        Target {
            base: base.into(),
            registry: name.into(),
            mode: Mode::Local,
            publish_to: Some(name.into()),
            upstream: false,
            anonymous_read: false,
        }
    }

    /// The registry publishes go to, as a target of its own.
    pub fn publish_target(&self) -> Option<Target> {
        let to = self.publish_to.as_ref()?;
        if *to == self.registry {
            return Some(self.clone());
        }
        Some(Target::local(&self.base, to))
    }

    /// Whether publishes go to another registry (a group's member).
    pub fn publishes_elsewhere(&self) -> bool {
        self.publish_to.as_ref().is_some_and(|p| *p != self.registry)
    }

    /// `{base}/proxy/{registry}`.
    pub fn url(&self) -> String {
        format!("{}/proxy/{}", self.base, self.registry)
    }

    /// The registry URL without its scheme (`host:port/proxy/name`).
    pub fn url_without_scheme(&self) -> String {
        let url = self.url();
        match url.split_once("://") {
            Some((_, rest)) => rest.to_string(),
            None => url,
        }
    }

    pub fn scheme(&self) -> &str {
        self.base.split_once("://").map(|(s, _)| s).unwrap_or("https")
    }

    /// The host name alone (what `~/.netrc` matches on).
    pub fn host(&self) -> String {
        url::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| self.base.clone())
    }
}

/// One ready-to-paste snippet.
#[derive(Debug, Clone)]
pub struct Snippet {
    /// Stable identifier (tests and the page's element ids use it).
    pub id: &'static str,
    pub title: &'static str,
    /// The file it goes in, or `None` for shell commands.
    pub file: Option<&'static str>,
    pub body: String,
    /// Publishing instructions (shown for local and hybrid registries only).
    pub publish: bool,
}

impl Snippet {
    pub fn new(id: &'static str, title: &'static str, file: Option<&'static str>, body: String) -> Snippet {
        Snippet { id, title, file, body, publish: false }
    }

    pub fn publishing(mut self) -> Snippet {
        self.publish = true;
        self
    }

    /// The body with the placeholders filled in, as a user pastes it.
    pub fn fill(&self, user: &str, token: &str) -> String {
        fill(&self.body, user, token)
    }
}

pub fn fill(body: &str, user: &str, token: &str) -> String {
    body.replace(TOKEN_ENV, token).replace(TOKEN, token).replace(USER, user)
}

/// The snippet called `id`.
pub fn find<'a>(snippets: &'a [Snippet], id: &str) -> Option<&'a Snippet> {
    snippets.iter().find(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parts() {
        let t = Target {
            base: "https://hub.example:8443".into(),
            registry: "npm".into(),
            mode: Mode::Proxy,
            publish_to: Some("internal".into()),
            upstream: true,
            anonymous_read: false,
        };
        assert_eq!(t.publish_target().map(|p| p.url()).as_deref(), Some("https://hub.example:8443/proxy/internal"));
        assert!(t.publishes_elsewhere());
        assert_eq!(t.url(), "https://hub.example:8443/proxy/npm");
        assert_eq!(t.url_without_scheme(), "hub.example:8443/proxy/npm");
        assert_eq!(t.host(), "hub.example");
        assert_eq!(t.scheme(), "https");
        assert_eq!(fill("a ${BATLEHUB_TOKEN} <your-token> <your-user-id>", "u", "t"), "a t t u");
    }
}
