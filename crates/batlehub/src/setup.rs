//! Client configuration snippets: the one source of the Setup Guide page
//! (`/setup`), the package browser's install commands, the namespace
//! dashboard's CLI instructions, and the files the real-client tests write.
//! A snippet that stops working therefore fails CI.
//!
//! The types live here; each ecosystem writes its own snippets
//! (`ecosystems/*/setup.rs`), reached through `ecosystems::setup_snippets`.

use crate::config::Mode;

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
}

impl Target {
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
        let t = Target { base: "https://hub.example:8443".into(), registry: "npm".into(), mode: Mode::Proxy };
        assert_eq!(t.url(), "https://hub.example:8443/proxy/npm");
        assert_eq!(t.url_without_scheme(), "hub.example:8443/proxy/npm");
        assert_eq!(t.host(), "hub.example");
        assert_eq!(t.scheme(), "https");
        assert_eq!(fill("a ${BATLEHUB_TOKEN} <your-token> <your-user-id>", "u", "t"), "a t t u");
    }
}
