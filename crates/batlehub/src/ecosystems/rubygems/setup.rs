//! The gem and Bundler snippets: sources, credentials, pushing.

use crate::setup::{Snippet, TOKEN, TOKEN_ENV, Target, USER};

/// The registry URL with the credentials in it, as gem and Bundler take
/// them for a source.
fn with_credentials(t: &Target) -> String {
    let url = format!("{}/", t.url());
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{USER}:{TOKEN}@{rest}"),
        None => url,
    }
}

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = format!("{}/", t.url());
    let mut out = vec![
        Snippet::new("gem-sources", "gem: use this registry", None, format!("gem sources --add {}\n", with_credentials(t))),
        Snippet::new(
            "gemfile",
            "Bundler: the Gemfile's source",
            Some("Gemfile"),
            format!("source \"{url}\"\n\ngem \"my-gem\"\n"),
        ),
        Snippet::new(
            "bundle-config",
            "Bundler: the credentials for that source (kept out of the Gemfile)",
            None,
            format!("bundle config set --global {url} {USER}:{TOKEN}\n"),
        ),
    ];
    if let Some(p) = t.publish_target() {
        out.push(
            Snippet::new(
                "gem-push",
                "Push a gem (the token as the API key)",
                None,
                format!("GEM_HOST_API_KEY={TOKEN_ENV} gem push my-gem-1.0.0.gem --host {}\n", p.url()),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "gem-yank",
                "Yank a version",
                None,
                format!("GEM_HOST_API_KEY={TOKEN_ENV} gem yank my-gem -v 1.0.0 --host {}\n", p.url()),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    format!("gem install {package} --source {}/", t.url())
}
