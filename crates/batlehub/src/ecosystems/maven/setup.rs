//! Maven's and Gradle's snippets: `settings.xml` (a mirror of everything,
//! and the server credentials: Maven sends them after the 401 challenge),
//! `distributionManagement` for `mvn deploy`, and Gradle's repositories and
//! publishing blocks.

use crate::config::Mode;
use crate::setup::{Snippet, TOKEN, Target, USER};

/// The `<id>` tying `settings.xml`'s server to the repositories.
pub const SERVER_ID: &str = "batlehub";

/// Maven's built-in `central` repository takes no SNAPSHOTs: a profile
/// redeclares it with SNAPSHOTs on (its URL is replaced by the mirror's), so
/// that SNAPSHOT dependencies resolve through the mirror too.
const SNAPSHOTS_PROFILE: &str = "  <profiles>\n    <profile>\n      <id>batlehub-snapshots</id>\n      <repositories>\n        <repository>\n          <id>central</id>\n          <url>https://central.invalid</url>\n          <releases><enabled>true</enabled></releases>\n          <snapshots><enabled>true</enabled></snapshots>\n        </repository>\n      </repositories>\n      <pluginRepositories>\n        <pluginRepository>\n          <id>central</id>\n          <url>https://central.invalid</url>\n          <releases><enabled>true</enabled></releases>\n          <snapshots><enabled>true</enabled></snapshots>\n        </pluginRepository>\n      </pluginRepositories>\n    </profile>\n  </profiles>\n  <activeProfiles>\n    <activeProfile>batlehub-snapshots</activeProfile>\n  </activeProfiles>\n";

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = format!("{}/", t.url());
    let server = format!(
        "    <server>\n      <id>{SERVER_ID}</id>\n      <username>{USER}</username>\n      <password>{TOKEN}</password>\n    </server>\n"
    );
    let mut out = Vec::new();
    if t.mode != Mode::Local {
        out.push(Snippet::new(
            "maven-settings",
            "Send every Maven download through this registry",
            Some("~/.m2/settings.xml"),
            format!(
                "<settings>\n  <mirrors>\n    <mirror>\n      <id>{SERVER_ID}</id>\n      <mirrorOf>*</mirrorOf>\n      <url>{url}</url>\n    </mirror>\n  </mirrors>\n  <servers>\n{server}  </servers>\n{SNAPSHOTS_PROFILE}</settings>\n"
            ),
        ));
    } else {
        out.push(Snippet::new(
            "maven-settings",
            "Credentials for this registry",
            Some("~/.m2/settings.xml"),
            format!("<settings>\n  <servers>\n{server}  </servers>\n</settings>\n"),
        ));
    }
    out.push(Snippet::new(
        "gradle-repositories",
        "Gradle: resolve from this registry",
        Some("build.gradle.kts"),
        format!(
            "repositories {{\n    maven {{\n        url = uri(\"{url}\")\n        credentials {{\n            username = \"{USER}\"\n            password = System.getenv(\"BATLEHUB_TOKEN\")\n        }}\n    }}\n}}\n"
        ),
    ));
    if let Some(p) = t.publish_target() {
        let url = format!("{}/", p.url());
        out.push(
            Snippet::new(
                "maven-distribution",
                "Deploy releases and SNAPSHOTs here (the server id matches settings.xml)",
                Some("pom.xml"),
                format!(
                    "<distributionManagement>\n  <repository>\n    <id>{SERVER_ID}</id>\n    <url>{url}</url>\n  </repository>\n  <snapshotRepository>\n    <id>{SERVER_ID}</id>\n    <url>{url}</url>\n  </snapshotRepository>\n</distributionManagement>\n"
                ),
            )
            .publishing(),
        );
        out.push(Snippet::new("maven-deploy", "Deploy", None, "mvn deploy\n".into()).publishing());
        out.push(
            Snippet::new(
                "gradle-publishing",
                "Gradle: publish here (with the maven-publish plugin)",
                Some("build.gradle.kts"),
                format!(
                    "publishing {{\n    repositories {{\n        maven {{\n            name = \"batlehub\"\n            url = uri(\"{url}\")\n            credentials {{\n                username = \"{USER}\"\n                password = System.getenv(\"BATLEHUB_TOKEN\")\n            }}\n        }}\n    }}\n}}\n"
                ),
            )
            .publishing(),
        );
    }
    out
}

/// A dependency declaration for `groupId:artifactId` (the install command).
pub fn install_command(t: &Target, package: &str) -> String {
    let (g, a) = package.split_once(':').unwrap_or((package, package));
    format!(
        "mvn dependency:get -DremoteRepositories={}/ -Dartifact={g}:{a}:LATEST   # or <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId></dependency>",
        t.url()
    )
}
