//! PyPI's snippets: pip, uv and poetry sources, credentials, and uploading
//! with twine or `uv publish`.

use crate::setup::{Snippet, TOKEN, Target, USER};

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let simple = format!("{}/simple/", t.url());
    let mut out = vec![
        Snippet::new(
            "pip-conf",
            "Point pip at this registry",
            Some("~/.pip/pip.conf"),
            format!("[global]\nindex-url = {simple}\n"),
        ),
        Snippet::new(
            "uv-index",
            "Point uv at this registry",
            Some("pyproject.toml"),
            format!("[[tool.uv.index]]\nname = \"batlehub\"\nurl = \"{simple}\"\ndefault = true\n"),
        ),
        Snippet::new(
            "poetry-source",
            "Point poetry at this registry",
            Some("pyproject.toml"),
            format!("[[tool.poetry.source]]\nname = \"batlehub\"\nurl = \"{simple}\"\npriority = \"primary\"\n"),
        ),
        Snippet::new(
            "netrc",
            "Credentials for pip, uv and poetry",
            Some("~/.netrc"),
            format!("machine {}\nlogin {USER}\npassword {TOKEN}\n", t.host()),
        ),
        Snippet::new(
            "poetry-credentials",
            "Credentials for poetry (named after the source, upper-cased)",
            None,
            "export POETRY_HTTP_BASIC_BATLEHUB_USERNAME=__token__\nexport POETRY_HTTP_BASIC_BATLEHUB_PASSWORD=$BATLEHUB_TOKEN\n".into(),
        ),
        Snippet::new(
            "pip-url-credentials",
            "Or credentials in the index URL",
            Some("~/.pip/pip.conf"),
            format!("[global]\nindex-url = {}://__token__:{TOKEN}@{}/simple/\n", t.scheme(), t.url_without_scheme()),
        ),
    ];
    out.push(Snippet::new(
        "pip-verify",
        "Verify",
        None,
        format!("pip index versions --index-url {simple} {}\npip download --no-deps --index-url {simple} {}\n", if t.upstream { "requests" } else { "my-package" }, if t.upstream { "requests" } else { "my-package" }),
    ));
    if let Some(p) = t.publish_target() {
        let legacy = format!("{}/legacy/", p.url());
        out.push(
            Snippet::new(
                "twine-upload",
                "Build and upload with twine",
                None,
                format!("python -m build\ntwine upload --repository-url {legacy} --username __token__ --password $BATLEHUB_TOKEN dist/*\n"),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "pypirc",
                "Or a named repository for twine (then `twine upload --repository batlehub dist/*`)",
                Some("~/.pypirc"),
                format!("[distutils]\nindex-servers = batlehub\n\n[batlehub]\nrepository = {legacy}\nusername = __token__\npassword = {TOKEN}\n"),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "poetry-publish",
                "Build and upload with poetry (the credentials above apply to the repository of the same name)",
                None,
                format!("poetry config repositories.batlehub {legacy}\npoetry publish --build --repository batlehub\n"),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "uv-publish",
                "Upload with uv",
                None,
                format!("uv publish --publish-url {legacy} --username __token__ --password $BATLEHUB_TOKEN dist/*\n"),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    format!("pip install --index-url {}/simple/ {package}", t.url())
}
