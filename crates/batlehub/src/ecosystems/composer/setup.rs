//! Composer's snippets: the repository in `composer.json` (packagist.org
//! turned off), `auth.json` credentials, and publishing with `curl`.

use crate::setup::{Snippet, TOKEN, TOKEN_ENV, Target};

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = format!("{}/", t.url());
    let secure = if t.scheme() == "http" { ",\n  \"config\": { \"secure-http\": false }" } else { "" };
    let mut out = vec![
        Snippet::new(
            "composer-repository",
            "Use this registry (and not packagist.org) in your project",
            Some("composer.json"),
            format!(
                "{{\n  \"repositories\": [\n    {{ \"type\": \"composer\", \"url\": \"{url}\" }},\n    {{ \"packagist.org\": false }}\n  ]{secure}\n}}\n"
            ),
        ),
        Snippet::new(
            "composer-auth",
            "Credentials (any user name, the token as password; never commit this file)",
            Some("auth.json"),
            format!("{{\n  \"http-basic\": {{\n    \"{}\": {{ \"username\": \"token\", \"password\": \"{TOKEN}\" }}\n  }}\n}}\n", super::setup::auth_host(t)),
        ),
        Snippet::new("composer-install", "Install", None, "composer install\ncomposer require my-vendor/my-pkg\n".into()),
    ];
    if let Some(p) = t.publish_target() {
        out.push(
            Snippet::new(
                "composer-publish",
                "Publish a ZIP whose composer.json has a name and a version (or add ?version=)",
                None,
                format!(
                    "curl --fail-with-body -X POST -H \"Authorization: Bearer {TOKEN_ENV}\" -H \"Content-Type: application/zip\" \\\n  --data-binary @my-vendor-my-pkg-1.0.0.zip \"{}/api/upload\"\n",
                    p.url()
                ),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "composer-yank",
                "Yank a version",
                None,
                format!(
                    "curl --fail-with-body -X DELETE -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  \"{}/api/packages/my-vendor/my-pkg/versions/1.0.0\"\n",
                    p.url()
                ),
            )
            .publishing(),
        );
    }
    out
}

/// The `auth.json` key: the host, with the port when it is not the
/// scheme's default (Composer matches `host:port`).
pub fn auth_host(t: &Target) -> String {
    url::Url::parse(&t.base)
        .ok()
        .and_then(|u| Some(match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_string(),
        }))
        .unwrap_or_else(|| t.host())
}

pub fn install_command(_t: &Target, package: &str) -> String {
    format!("composer require {package}")
}
