//! The go command's snippets: `GOPROXY` (with the checksum settings that
//! private modules need), `~/.netrc`, and publishing with
//! `batlehub go-mod-zip` and `curl`.
//!
//! What users of the go command trip on, said in the snippets: the go
//! command sends credentials only over HTTPS, and a `~/.netrc` entry must
//! name `host:port` when the port is not 443. `GONOSUMCHECK` is not a go
//! setting: `GONOSUMDB` (or `GOPRIVATE`) is; and `GOPRIVATE` alone also
//! makes the go command bypass every proxy for those paths, so
//! `GONOPROXY=none` keeps BatleHub in the path.

use crate::config::Mode;
use crate::setup::{Snippet, TOKEN, TOKEN_ENV, Target, USER};

/// `host[:port]` of the server, as the go command matches `~/.netrc`
/// machines.
pub fn authority(t: &Target) -> String {
    url::Url::parse(&t.base)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| t.host())
}

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = t.url();
    let private = if t.mode == Mode::Proxy { "" } else { "example.com/myorg/*" };
    let mut env = format!("export GOPROXY=\"{url},direct\"\n");
    if t.mode == Mode::Proxy {
        env.push_str("# Private modules elsewhere: keep their paths away from the public checksum database\nexport GONOSUMDB=\"example.com/private/*\"\n");
    } else {
        env.push_str(&format!(
            "# Private modules are in no public checksum database\nexport GONOSUMDB=\"{private}\"\n# (or GOPRIVATE=\"{private}\" with GONOPROXY=none, so the go command still asks BatleHub)\n"
        ));
    }
    env.push_str("# (GONOSUMCHECK is not a go setting: GONOSUMDB is)\nexport GOFLAGS=-mod=mod\n");
    let mut out = vec![
        Snippet::new("go-env", "Point the go command at this registry", None, env),
        Snippet::new(
            "go-env-permanent",
            "To make it permanent",
            None,
            format!("go env -w GOPROXY=\"{url},direct\"\ngo env -w GONOSUMDB=\"{private}\"\n"),
        ),
        Snippet::new(
            "go-netrc",
            "Credentials (the go command sends them only over HTTPS; name the port unless it is 443)",
            Some("~/.netrc"),
            format!("machine {}\nlogin {USER}\npassword {TOKEN}\n", authority(t)),
        ),
        Snippet::new("go-get", "Fetch a module", None, "go get example.com/some/module@v1.2.3\n".into()),
    ];
    if t.mode != Mode::Local {
        out.push(Snippet::new(
            "go-sumdb",
            "Checksum verification stays on: the go command asks the checksum database through this registry",
            None,
            "# leave GOSUMDB at its default; BatleHub forwards /sumdb/ to its upstream proxy\ngo env GOSUMDB\n".into(),
        ));
    }
    if let Some(p) = t.publish_target() {
        let url = p.url();
        out.push(
            Snippet::new(
                "go-publish",
                "Publish a module (from the directory holding its go.mod)",
                None,
                format!(
                    "batlehub go-mod-zip example.com/myorg/mymod@v1.0.0 . -o /tmp/mymod-v1.0.0.zip\n\
                     curl --fail-with-body -X PUT -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  \
                     -H \"Content-Type: application/zip\" --data-binary @/tmp/mymod-v1.0.0.zip \\\n  \
                     \"{url}/example.com/myorg/mymod/@v/v1.0.0.zip\"\n"
                ),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    format!("GOPROXY=\"{},direct\" go get {package}@latest", t.url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_names_the_port() {
        let t = Target { mode: Mode::Hybrid, upstream: true, ..Target::local("https://hub.example:8443", "go") };
        assert_eq!(authority(&t), "hub.example:8443");
        let t = Target::local("https://hub.example", "go");
        assert_eq!(authority(&t), "hub.example");
        let s = snippets(&t);
        assert!(s.iter().any(|s| s.id == "go-publish" && s.body.contains("/proxy/go/example.com/myorg/mymod/@v/v1.0.0.zip")));
        assert!(!s.iter().any(|s| s.id == "go-sumdb"), "a local registry forwards no checksum database");
    }
}
