//! VS Code extension names: ids (`{publisher}.{name}`, compared ignoring
//! ASCII case as VS Code compares them), versions (semver, as `vsce`
//! requires), target platforms, and the catalog file names of one release.

/// The target platforms VS Code and OpenVSX know; `universal` is a VSIX
/// for every platform (one without `TargetPlatform`).
pub const PLATFORMS: &[&str] = &[
    "universal",
    "win32-x64",
    "win32-arm64",
    "win32-ia32",
    "linux-x64",
    "linux-arm64",
    "linux-armhf",
    "alpine-x64",
    "alpine-arm64",
    "darwin-x64",
    "darwin-arm64",
    "web",
];

pub const UNIVERSAL: &str = "universal";

const MAX_PART: usize = 100;

/// An extension id as written (`ms-python.python`); the catalog key is its
/// lower-case form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtId {
    pub publisher: String,
    pub name: String,
}

impl ExtId {
    /// `{publisher}.{name}`: each part starts with a letter or digit, then
    /// letters, digits, `-` and `_` (what `vsce` and OpenVSX accept).
    pub fn parse(id: &str) -> Result<ExtId, String> {
        let bad = || {
            format!(
                "invalid extension id `{}`: expected {{publisher}}.{{name}} (letters, digits, `-` and `_`)",
                id.chars().take(120).collect::<String>()
            )
        };
        let (publisher, name) = id.split_once('.').ok_or_else(bad)?;
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.len() <= MAX_PART
                && p.starts_with(|c: char| c.is_ascii_alphanumeric())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !part_ok(publisher) || !part_ok(name) {
            return Err(bad());
        }
        Ok(ExtId { publisher: publisher.to_string(), name: name.to_string() })
    }

    pub fn of(publisher: &str, name: &str) -> Result<ExtId, String> {
        ExtId::parse(&format!("{publisher}.{name}"))
    }

    pub fn display(&self) -> String {
        format!("{}.{}", self.publisher, self.name)
    }

    /// The catalog key.
    pub fn key(&self) -> String {
        self.display().to_ascii_lowercase()
    }

    pub fn same(&self, other: &ExtId) -> bool {
        self.key() == other.key()
    }
}

/// The catalog key of an id, or `None` if it is not one.
pub fn normalize(id: &str) -> Option<String> {
    ExtId::parse(id).ok().map(|i| i.key())
}

/// A version: semver (`1.2.3`, `1.2.3-beta.1`), as `vsce` packages it.
pub fn check_version(v: &str) -> Result<(), String> {
    if v.len() <= 64 && semver::Version::parse(v).is_ok() {
        Ok(())
    } else {
        Err(format!("invalid extension version `{}`: expected semver (1.2.3)", v.chars().take(70).collect::<String>()))
    }
}

pub fn check_platform(p: &str) -> Result<(), String> {
    if PLATFORMS.contains(&p) {
        Ok(())
    } else {
        Err(format!(
            "unknown target platform `{}`: one of {}",
            p.chars().take(40).collect::<String>(),
            PLATFORMS.join(", ")
        ))
    }
}

/// A file of a release kept beside its VSIX, read out of it at publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Asset {
    /// `extension/package.json`.
    Manifest,
    /// `extension.vsixmanifest`.
    VsixManifest,
    Readme,
    Changelog,
    License,
    Icon,
}

impl Asset {
    pub const ALL: [Asset; 6] =
        [Asset::Manifest, Asset::VsixManifest, Asset::Readme, Asset::Changelog, Asset::License, Asset::Icon];

    /// Its name in URLs (`.../file/{name}`) and in the catalog.
    pub fn file_name(self) -> &'static str {
        match self {
            Asset::Manifest => "package.json",
            Asset::VsixManifest => "extension.vsixmanifest",
            Asset::Readme => "README.md",
            Asset::Changelog => "CHANGELOG.md",
            Asset::License => "LICENSE.txt",
            Asset::Icon => "icon",
        }
    }

    /// The gallery's asset type.
    pub fn gallery_type(self) -> &'static str {
        match self {
            Asset::Manifest => "Microsoft.VisualStudio.Code.Manifest",
            Asset::VsixManifest => "Microsoft.VisualStudio.Services.VsixManifest",
            Asset::Readme => "Microsoft.VisualStudio.Services.Content.Details",
            Asset::Changelog => "Microsoft.VisualStudio.Services.Content.Changelog",
            Asset::License => "Microsoft.VisualStudio.Services.Content.License",
            Asset::Icon => "Microsoft.VisualStudio.Services.Icons.Default",
        }
    }

    /// OpenVSX's key in `files`.
    pub fn openvsx_key(self) -> &'static str {
        match self {
            Asset::Manifest => "manifest",
            Asset::VsixManifest => "vsixmanifest",
            Asset::Readme => "readme",
            Asset::Changelog => "changelog",
            Asset::License => "license",
            Asset::Icon => "icon",
        }
    }

    pub fn from_file_name(name: &str) -> Option<Asset> {
        Asset::ALL.into_iter().find(|a| a.file_name().eq_ignore_ascii_case(name))
    }

    pub fn from_gallery_type(t: &str) -> Option<Asset> {
        Asset::ALL.into_iter().find(|a| a.gallery_type().eq_ignore_ascii_case(t))
    }

    /// The most a kept asset may weigh.
    pub fn limit(self) -> u64 {
        match self {
            Asset::Manifest | Asset::VsixManifest => 1 << 20,
            _ => 4 << 20,
        }
    }
}

/// The catalog file of a release's VSIX: `{platform}/{id}-{version}.vsix`.
pub fn vsix_file(id: &ExtId, version: &str, platform: &str) -> String {
    format!("{platform}/{}-{version}.vsix", id.key())
}

/// The catalog file of one of a release's assets:
/// `{platform}/{version}/{asset}` (file names are unique per package).
pub fn asset_file(platform: &str, version: &str, asset: Asset) -> String {
    format!("{platform}/{version}/{}", asset.file_name())
}

/// A catalog file name split: its platform, and whether it is the VSIX.
pub fn split_file(filename: &str) -> Option<(&str, &str)> {
    filename.split_once('/')
}

/// The name a VSIX download is saved as: `{id}-{version}[@{platform}].vsix`.
pub fn download_name(id: &ExtId, version: &str, platform: &str) -> String {
    if platform == UNIVERSAL {
        format!("{}-{version}.vsix", id.display())
    } else {
        format!("{}-{version}@{platform}.vsix", id.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse() {
        let id = ExtId::parse("My-Org.my_ext").expect("id");
        assert_eq!(id.key(), "my-org.my_ext");
        assert!(ExtId::parse("noid").is_err());
        assert!(ExtId::parse("a.b.c").is_err());
        assert!(ExtId::parse(".x").is_err());
        assert!(ExtId::parse("-a.b").is_err());
        assert!(ExtId::parse("a b.c").is_err());
        assert!(check_version("1.0.0").is_ok());
        assert!(check_version("1.0.0-beta.1").is_ok());
        assert!(check_version("1.0").is_err());
        assert!(check_platform("linux-x64").is_ok());
        assert!(check_platform("mars-x64").is_err());
        assert_eq!(vsix_file(&id, "1.0.0", "universal"), "universal/my-org.my_ext-1.0.0.vsix");
        assert_eq!(download_name(&id, "1.0.0", "linux-x64"), "My-Org.my_ext-1.0.0@linux-x64.vsix");
    }
}
