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
            if t.upstream {
                "npm install lodash\nnpm install @myorg/my-private-package\n".into()
            } else {
                // A registry without upstreams has only its own packages.
                "npm install @myorg/my-private-package\n".into()
            },
        ),
        Snippet::new(
            "npm-verify",
            "Verify",
            None,
            format!("npm ping --registry {url}\nnpm whoami --registry {url}\nnpm view {} version\n", if t.upstream { "lodash" } else { "@myorg/my-private-package" }),
        ),
    ];
    if let Some(p) = t.publish_target() {
        let to = format!("{}/", p.url());
        if t.publishes_elsewhere() {
            out.push(
                Snippet::new(
                    "npmrc-publish",
                    "The token for the registry packages are published to",
                    Some(".npmrc"),
                    format!("//{}/:_authToken={TOKEN_ENV}\n", p.url_without_scheme()),
                )
                .publishing(),
            );
        }
        out.push(
            Snippet::new("npm-publish", "Publish a package", None, format!("npm publish --registry {to}\n")).publishing(),
        );
        out.push(
            Snippet::new(
                "npm-manage",
                "Deprecate, tag and unpublish",
                None,
                format!(
                    "npm deprecate @myorg/my-private-package@1.0.0 \"use 2.x\" --registry {url}\n\
                     npm dist-tag add @myorg/my-private-package@1.0.0 stable --registry {url}\n\
                     npm unpublish @myorg/my-private-package@1.0.0 --registry {url}\n"
                ),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    format!("npm install {package} --registry {}/", t.url())
}
