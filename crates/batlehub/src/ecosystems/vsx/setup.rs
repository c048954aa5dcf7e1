//! The VS Code extension snippets: the user guide's `serviceUrl` setting,
//! a gallery for VS Code builds that take one (`product.json`,
//! code-server's `EXTENSIONS_GALLERY`), downloading and installing with
//! `curl` and `code`, `ovsx`, and publishing.

use crate::setup::{Snippet, TOKEN_ENV, Target};

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = t.url();
    let gallery = format!(
        "{{\n  \"serviceUrl\": \"{url}/vscode/gallery\",\n  \"itemUrl\": \"{url}/vscode/item\",\n  \"resourceUrlTemplate\": \"{url}/vscode/unpkg/{{publisher}}/{{name}}/{{version}}/{{path}}\"\n}}"
    );
    let mut out = vec![
        Snippet::new(
            "vsx-settings",
            "Point VS Code at BatleHub (OpenVSX)",
            Some(".vscode/settings.json"),
            format!("{{\n  \"vscode-extension-marketplace.serviceUrl\": \"{url}\"\n}}\n"),
        ),
        Snippet::new(
            "vsx-gallery",
            "The gallery for VS Code builds that take one: product.json's extensionsGallery, or code-server's EXTENSIONS_GALLERY (VS Code sends no credentials to its gallery: give this registry anonymous read)",
            Some("product.json"),
            format!("\"extensionsGallery\": {gallery}\n\n# code-server:\nexport EXTENSIONS_GALLERY='{}'\n", gallery.replace('\n', "")),
        ),
        Snippet::new(
            "vsx-install",
            "Download and install an extension",
            None,
            format!(
                "curl -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  \"{url}/ms-python.python/2024.2.1/vsix\" \\\n  -o ms-python.python-2024.2.1.vsix\ncode --install-extension ms-python.python-2024.2.1.vsix\n"
            ),
        ),
        Snippet::new(
            "vsx-ovsx",
            "With ovsx (the OpenVSX client)",
            None,
            format!("ovsx get ms-python.python -r {url}\n"),
        ),
    ];
    if let Some(p) = t.publish_target() {
        let to = p.url();
        out.push(
            Snippet::new(
                "vsx-publish",
                "Publish a private extension (a .vsix built with vsce package)",
                None,
                format!(
                    "curl -X PUT \\\n  -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  -H \"Content-Type: application/octet-stream\" \\\n  --data-binary @my-org.my-extension-1.0.0.vsix \\\n  \"{to}/my-org.my-extension/1.0.0/vsix\"\n# or with ovsx:\novsx publish my-org.my-extension-1.0.0.vsix -r {to} -p {TOKEN_ENV}\n"
                ),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    format!(
        "curl -fL -H \"Authorization: Bearer {TOKEN_ENV}\" \"{}/{package}/latest/vsix\" -o {package}.vsix && code --install-extension {package}.vsix",
        t.url()
    )
}
