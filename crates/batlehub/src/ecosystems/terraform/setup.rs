//! The Terraform snippets: the CLI configuration's `host` block (or the
//! host-root discovery), credentials, a configuration using private
//! providers and modules, the network mirror, and publishing with `curl`.

use crate::setup::{Snippet, TOKEN, TOKEN_ENV, Target};

/// `host[:port]` of the server: what Terraform source addresses start with.
fn hostname(t: &Target) -> String {
    let b = t.base.split_once("://").map(|(_, r)| r).unwrap_or(&t.base);
    b.split('/').next().unwrap_or(b).to_string()
}

/// The environment variable Terraform reads a host's token from: the host
/// name (without a port) with dots as `_` and dashes as `__`.
fn token_var(t: &Target) -> String {
    format!("TF_TOKEN_{}", t.host().replace('.', "_").replace('-', "__"))
}

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = t.url();
    let host = hostname(t);
    let mut out = vec![
        Snippet::new(
            "terraform-host",
            "Point Terraform at this registry (~/.terraformrc; or set [server] well_known_registry to it, and Terraform discovers it by itself)",
            Some("~/.terraformrc"),
            format!(
                "host \"{host}\" {{\n  services = {{\n    \"modules.v1\"   = \"{url}/v1/modules/\",\n    \"providers.v1\" = \"{url}/v1/providers/\"\n  }}\n}}\n\ncredentials \"{host}\" {{\n  token = \"{TOKEN}\"\n}}\n\n# or, instead of the credentials block:\n# export {}={TOKEN_ENV}\n",
                token_var(t)
            ),
        ),
        Snippet::new(
            "terraform-use",
            "Use private providers and modules (Terraform only speaks HTTPS: serve BatleHub over TLS)",
            Some("main.tf"),
            format!(
                "terraform {{\n  required_providers {{\n    mytool = {{\n      source  = \"{host}/my-org/mytool\"\n      version = \"~> 1.0\"\n    }}\n  }}\n}}\n\nmodule \"network\" {{\n  source  = \"{host}/my-org/network/aws\"\n  version = \"1.0.0\"\n}}\n"
            ),
        ),
        Snippet::new(
            "terraform-mirror",
            "Or install every provider through this registry as a network mirror",
            Some("~/.terraformrc"),
            format!("provider_installation {{\n  network_mirror {{\n    url = \"{url}/\"\n  }}\n}}\n\ncredentials \"{host}\" {{\n  token = \"{TOKEN}\"\n}}\n"),
        ),
    ];
    if let Some(p) = t.publish_target() {
        let to = p.url();
        out.push(
            Snippet::new(
                "terraform-publish",
                "Publish a private module (.tar.gz) and a provider (one zip per platform; BatleHub writes and signs SHA256SUMS)",
                None,
                format!(
                    "tar -czf network.tar.gz -C ./network .\ncurl -X POST -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  --data-binary @network.tar.gz \\\n  \"{to}/v1/modules/my-org/network/aws/1.0.0\"\n\ncurl -X PUT -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  --data-binary @terraform-provider-mytool_1.0.0_linux_amd64.zip \\\n  \"{to}/v1/providers/my-org/mytool/1.0.0/linux/amd64?protocols=5.0\"\n"
                ),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(t: &Target, package: &str) -> String {
    let host = hostname(t);
    if package.split('/').count() == 3 {
        format!("module \"{}\" {{ source = \"{host}/{package}\" }}  # then: terraform init", package.split('/').nth(1).unwrap_or("m"))
    } else {
        format!("required_providers {{ {} = {{ source = \"{host}/{package}\" }} }}  # then: terraform init", package.rsplit('/').next().unwrap_or("p"))
    }
}
