//! NuGet's snippets: the source in `nuget.config` (with its credentials),
//! `dotnet nuget add source` and `nuget sources add`, installing, and
//! pushing and deleting (unlisting) with dotnet, NuGet.exe and `curl`.

use crate::setup::{Snippet, TOKEN, TOKEN_ENV, Target};

/// The user name of source credentials: any works, the token is the password.
const USER: &str = "__token__";

pub fn index_url(t: &Target) -> String {
    format!("{}/nuget/v3/index.json", t.url())
}

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let index = index_url(t);
    // Recent dotnet SDKs refuse plain-HTTP sources unless told.
    let insecure = if t.scheme() == "http" { " allowInsecureConnections=\"true\"" } else { "" };
    let mut out = vec![
        Snippet::new(
            "nuget-config",
            "Use this registry (and only it) in a project: nuget.config next to the solution",
            Some("nuget.config"),
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <clear />\n    <add key=\"batlehub\" value=\"{index}\"{insecure} />\n  </packageSources>\n  <packageSourceCredentials>\n    <batlehub>\n      <add key=\"Username\" value=\"{USER}\" />\n      <add key=\"ClearTextPassword\" value=\"{TOKEN}\" />\n    </batlehub>\n  </packageSourceCredentials>\n</configuration>\n"
            ),
        ),
        Snippet::new(
            "nuget-dotnet-add-source",
            "Or add the source once with the dotnet CLI",
            None,
            format!(
                "dotnet nuget add source \"{index}\" --name batlehub \\\n  --username {USER} --password \"{TOKEN_ENV}\" --store-password-in-clear-text\n"
            ),
        ),
        Snippet::new(
            "nuget-exe-add-source",
            "Or with NuGet.exe",
            None,
            format!(
                "nuget sources add -Name batlehub -Source \"{index}\" \\\n  -Username {USER} -Password \"{TOKEN_ENV}\" -StorePasswordInClearText\n"
            ),
        ),
        Snippet::new(
            "nuget-install",
            "Install",
            None,
            "dotnet add package Newtonsoft.Json\ndotnet restore\n# NuGet.exe:\nnuget install Newtonsoft.Json -Source batlehub\n".into(),
        ),
    ];
    if t.mode.has_local() {
        out.push(
            Snippet::new(
                "nuget-push",
                "Push a package (201 Created; 409 Conflict if the version exists)",
                None,
                format!(
                    "dotnet nuget push bin/Release/MyLib.1.0.0.nupkg --api-key \"{TOKEN_ENV}\" \\\n  --source \"{index}\"\n"
                ),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "nuget-exe-push",
                "Push with NuGet.exe",
                None,
                format!("nuget push MyLib.1.0.0.nupkg -ApiKey \"{TOKEN_ENV}\" -Source \"{index}\" -NonInteractive\n"),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "nuget-exe-delete",
                "Unlist a version with NuGet.exe (hidden from search, still restorable by exact version)",
                None,
                format!("nuget delete MyLib 1.0.0 -ApiKey \"{TOKEN_ENV}\" -Source \"{index}\" -NonInteractive\n"),
            )
            .publishing(),
        );
        out.push(
            Snippet::new(
                "nuget-delete",
                "Or with curl",
                None,
                format!(
                    "curl --fail-with-body -X DELETE -H \"Authorization: Bearer {TOKEN_ENV}\" \\\n  \"{}/nuget/v2/package/mylib/1.0.0\"\n",
                    t.url()
                ),
            )
            .publishing(),
        );
    }
    out
}

pub fn install_command(_t: &Target, package: &str) -> String {
    format!("dotnet add package {package}")
}
