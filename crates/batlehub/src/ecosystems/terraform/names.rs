//! Terraform names: module addresses (`{namespace}/{name}/{system}`) and
//! provider addresses (`{namespace}/{type}`), compared ignoring ASCII case
//! as registries compare them; versions (semver); platforms (`{os}_{arch}`);
//! and the catalog keys and file names of both.

const MAX_PART: usize = 64;

fn part_ok(p: &str, dash_underscore: bool) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PART
        && p.starts_with(|c: char| c.is_ascii_alphanumeric())
        && p.chars().all(|c| c.is_ascii_alphanumeric() || (dash_underscore && (c == '-' || c == '_')))
}

fn bad(what: &str, s: &str) -> String {
    format!("invalid {what} `{}`", s.chars().take(80).collect::<String>())
}

/// A module: `{namespace}/{name}/{system}` (system: the provider it is
/// for, `aws`, `null`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub namespace: String,
    pub name: String,
    pub system: String,
}

impl Module {
    pub fn parse(namespace: &str, name: &str, system: &str) -> Result<Module, String> {
        if !part_ok(namespace, true) {
            return Err(bad("namespace", namespace));
        }
        if !part_ok(name, true) {
            return Err(bad("module name", name));
        }
        if !part_ok(system, false) {
            return Err(bad("module system (letters and digits)", system));
        }
        Ok(Module { namespace: namespace.into(), name: name.into(), system: system.into() })
    }

    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.name, self.system)
    }

    /// The catalog key: `{namespace}/{name}/{system}`, lower case (three
    /// segments: never a provider's).
    pub fn key(&self) -> String {
        self.path().to_ascii_lowercase()
    }

    /// The catalog file of a version.
    pub fn file(&self, version: &str) -> String {
        format!("{}-{}-{}-{version}.tar.gz", self.namespace, self.name, self.system).to_ascii_lowercase()
    }
}

/// A provider: `{namespace}/{type}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub namespace: String,
    pub kind: String,
}

impl Provider {
    pub fn parse(namespace: &str, kind: &str) -> Result<Provider, String> {
        if !part_ok(namespace, true) {
            return Err(bad("namespace", namespace));
        }
        let type_ok = part_ok(kind, true) && !kind.contains('_') && kind.chars().all(|c| !c.is_ascii_uppercase());
        if !type_ok {
            return Err(bad("provider type (lower-case letters, digits and `-`)", kind));
        }
        Ok(Provider { namespace: namespace.into(), kind: kind.into() })
    }

    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.kind)
    }

    /// The catalog key: `{namespace}/{type}`, lower case (two segments:
    /// never a module's). A claim of `{namespace}/` covers both.
    pub fn key(&self) -> String {
        self.path().to_ascii_lowercase()
    }

    /// The package file of a version on a platform, as HashiCorp names them.
    pub fn file(&self, version: &str, platform: &Platform) -> String {
        format!("terraform-provider-{}_{version}_{}_{}.zip", self.kind, platform.os, platform.arch)
    }

    /// The platform of a file of `version`, if it is one of this provider's.
    pub fn platform_of(&self, version: &str, file: &str) -> Option<Platform> {
        let rest = file.strip_prefix(&format!("terraform-provider-{}_{version}_", self.kind))?.strip_suffix(".zip")?;
        let (os, arch) = rest.split_once('_')?;
        Platform::parse(os, arch).ok()
    }
}

/// An `{os}_{arch}` pair (`linux_amd64`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    pub fn parse(os: &str, arch: &str) -> Result<Platform, String> {
        let ok = |s: &str| !s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !ok(os) || !ok(arch) {
            return Err(bad("platform (os and arch: lower-case letters and digits)", &format!("{os}_{arch}")));
        }
        Ok(Platform { os: os.into(), arch: arch.into() })
    }
}

/// A version: semver, as Terraform requires.
pub fn check_version(v: &str) -> Result<(), String> {
    if v.len() <= 64 && semver::Version::parse(v).is_ok() {
        Ok(())
    } else {
        Err(bad("version (semver, such as 1.2.3)", v))
    }
}

/// The catalog key of a name as the API and the UI give it: a module
/// `{ns}/{name}/{system}` or a provider `{ns}/{type}`.
pub fn normalize(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        [ns, n, s] => Module::parse(ns, n, s).ok().map(|m| m.key()),
        [ns, t] => Provider::parse(ns, &t.to_ascii_lowercase()).ok().map(|p| p.key()),
        _ => None,
    }
}

/// What a catalog key names.
pub enum Named {
    Module(Module),
    Provider(Provider),
}

/// The module or provider of a catalog key (or a display name).
pub fn named(key: &str) -> Option<Named> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [ns, n, s] => Module::parse(ns, n, s).ok().map(Named::Module),
        [ns, t] => Provider::parse(ns, t).ok().map(Named::Provider),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        let m = Module::parse("My-Org", "vpc", "aws").expect("module");
        assert_eq!(m.key(), "my-org/vpc/aws");
        assert!(Module::parse("a", "b", "a-b").is_err());
        let p = Provider::parse("my-org", "mytool").expect("provider");
        assert_eq!(p.key(), "my-org/mytool");
        let linux = Platform::parse("linux", "amd64").expect("platform");
        assert_eq!(p.file("1.0.0", &linux), "terraform-provider-mytool_1.0.0_linux_amd64.zip");
        assert_eq!(p.platform_of("1.0.0", "terraform-provider-mytool_1.0.0_linux_amd64.zip"), Some(linux));
        assert!(Provider::parse("a", "My_Tool").is_err());
        assert!(Platform::parse("linux", "../x").is_err());
        assert!(check_version("1.0").is_err());
        assert_eq!(normalize("My-Org/mytool").as_deref(), Some("my-org/mytool"));
        assert_eq!(normalize("My-Org/Vpc/aws").as_deref(), Some("my-org/vpc/aws"));
        assert_eq!(normalize("x"), None);
    }
}
