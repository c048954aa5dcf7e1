//! npm's snippets: `.npmrc` (whole registry and one scope) and publishing.

use crate::setup::{Snippet, TOKEN_ENV, Target};

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = format!("{}/", t.url());
    let auth = format!("//{}/:_authToken={TOKEN_ENV}", t.url_without_scheme());
    let mut out = vec![
        Snippet::new(
            "npmrc",
            "Point npm (and pnpm, yarn 1) at this registry",
            Some(".npmrc"),
            format!("registry={url}\n{auth}\n"),
        ),
        Snippet::new(
            "npmrc-scoped",
            "For scoped packages only",
            Some(".npmrc"),
            format!("@myorg:registry={url}\n{auth}\n"),
        ),
        Snippet::new(
            "npm-install",
            "Install packages",
            None,
            "npm install lodash\nnpm install @myorg/my-private-package\n".into(),
        ),
    ];
    if t.mode.has_local() {
        out.push(
            Snippet::new("npm-publish", "Publish a package", None, format!("npm publish --registry {url}\n"))
                .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    format!("npm install {package} --registry {}/", t.url())
}
