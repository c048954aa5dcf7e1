//! Conda's snippets: the channel in `~/.condarc` and in an
//! `environment.yml`, credentials in `~/.netrc` (the user guide's), pixi
//! and rattler, installing, and uploading with `curl`.

use crate::setup::{Snippet, TOKEN, TOKEN_ENV, Target, USER};

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = t.url();
    let mut out = vec![
        Snippet::new(
            "conda-condarc",
            "Use this channel (and not the defaults)",
            Some("~/.condarc"),
            format!("channels:\n  - {url}\n  - nodefaults\n"),
        ),
        Snippet::new(
            "conda-netrc",
            "Credentials: conda, mamba and pixi read ~/.netrc (any login works; the token is the password)",
            Some("~/.netrc"),
            format!("machine {}\nlogin {USER}\npassword {TOKEN}\n", t.host()),
        ),
        Snippet::new(
            "conda-install",
            "Install",
            None,
            format!("conda install numpy\n# or name the channel on the command line:\nconda install -c {url} --override-channels numpy\n"),
        ),
        Snippet::new(
            "conda-environment",
            "An environment with this channel",
            Some("environment.yml"),
            format!("name: myenv\nchannels:\n  - {url}\n  - nodefaults\ndependencies:\n  - python=3.11\n  - numpy\n"),
        ),
    ];
    if let Some(p) = t.publish_target() {
        let to = p.url();
        out.push(
            Snippet::new(
                "conda-upload",
                "Upload a package built with conda build or rattler-build (.conda or .tar.bz2) to its platform's subdir",
                None,
                format!(
                    "curl --fail-with-body -X POST \\\n  -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  -H \"Content-Type: application/octet-stream\" \\\n  --data-binary @my-pkg-1.0.0-py311h0_0.tar.bz2 \\\n  \"{to}/linux-64/\"\n# noarch packages go to {to}/noarch/\n"
                ),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    format!("conda install -c {} --override-channels {package}", t.url())
}
