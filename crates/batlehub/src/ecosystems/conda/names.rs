//! Conda names: package names, versions and build strings, subdirs
//! (platforms), and package file names (`{name}-{version}-{build}.conda` or
//! `.tar.bz2`, split from the right: versions and builds hold no `-`).

/// The subdirs conda knows (`conda/base/constants.py`'s list and the newer
/// wasm ones): a channel answers each of them, empty when it holds nothing.
pub const SUBDIRS: &[&str] = &[
    "noarch",
    "linux-32",
    "linux-64",
    "linux-aarch64",
    "linux-armv6l",
    "linux-armv7l",
    "linux-ppc64",
    "linux-ppc64le",
    "linux-riscv64",
    "linux-s390x",
    "osx-64",
    "osx-arm64",
    "win-32",
    "win-64",
    "win-arm64",
    "emscripten-wasm32",
    "wasi-wasm32",
    "zos-z",
];

pub const MAX_NAME: usize = 128;
const MAX_PART: usize = 128;

/// A package name: lower-case letters, digits, `_`, `-` and `.`, starting
/// with a letter, a digit or `_` (what conda-build accepts).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid conda package name `{}`: lower-case letters, digits, `_`, `-` and `.`",
            name.chars().take(140).collect::<String>()
        ))
    }
}

/// The catalog key of a name: conda names are lower case; other spellings
/// are the same name.
pub fn normalize(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    check_name(&lower).ok().map(|()| lower)
}

/// A version or a build string: letters, digits, `.`, `_`, `+` and `!`
/// (an epoch), never `-` (the file name's separator).
fn check_part(what: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_PART
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '!'))
        && !s.starts_with('.');
    if ok { Ok(()) } else { Err(format!("invalid conda {what} `{}`", s.chars().take(140).collect::<String>())) }
}

pub fn check_version(v: &str) -> Result<(), String> {
    check_part("version", v)
}

pub fn check_build(b: &str) -> Result<(), String> {
    check_part("build string", b)
}

pub fn check_subdir(s: &str) -> Result<(), String> {
    if SUBDIRS.contains(&s) {
        Ok(())
    } else {
        Err(format!("unknown conda subdir `{}` (platforms are such as linux-64, osx-arm64, noarch)", s.chars().take(60).collect::<String>()))
    }
}

/// The two package formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.conda`: a ZIP of zstd-compressed tarballs (`info-*.tar.zst`, `pkg-*.tar.zst`).
    Conda,
    /// `.tar.bz2`: the classic bzip2-compressed tarball.
    TarBz2,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Conda => ".conda",
            Format::TarBz2 => ".tar.bz2",
        }
    }

    /// Where repodata lists packages of this format.
    pub fn repodata_key(self) -> &'static str {
        match self {
            Format::Conda => "packages.conda",
            Format::TarBz2 => "packages",
        }
    }
}

/// A package file name, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub name: String,
    pub version: String,
    pub build: String,
    pub format: Format,
}

impl FileName {
    /// `{name}-{version}-{build}.conda` / `.tar.bz2`; the name as spelled
    /// must be valid (lower case).
    pub fn parse(file: &str) -> Result<FileName, String> {
        let (stem, format) = if let Some(s) = file.strip_suffix(".conda") {
            (s, Format::Conda)
        } else if let Some(s) = file.strip_suffix(".tar.bz2") {
            (s, Format::TarBz2)
        } else {
            return Err(format!("`{}` is not a conda package file (.conda or .tar.bz2)", short(file)));
        };
        let mut parts = stem.rsplitn(3, '-');
        let (Some(build), Some(version), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("`{}` is not named {{name}}-{{version}}-{{build}}", short(file)));
        };
        check_name(name)?;
        check_version(version)?;
        check_build(build)?;
        Ok(FileName { name: name.into(), version: version.into(), build: build.into(), format })
    }

    pub fn file(&self) -> String {
        format!("{}-{}-{}{}", self.name, self.version, self.build, self.format.extension())
    }
}

fn short(s: &str) -> String {
    s.chars().take(140).collect()
}

/// The catalog file name of a package file of `subdir`: one name may have
/// the same file name in several subdirs.
pub fn stored(subdir: &str, file: &str) -> String {
    format!("{subdir}/{file}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_from_the_right() {
        let f = FileName::parse("my-pkg-1.0.0-py311h0_0.tar.bz2").expect("parse");
        assert_eq!((f.name.as_str(), f.version.as_str(), f.build.as_str()), ("my-pkg", "1.0.0", "py311h0_0"));
        assert_eq!(f.format, Format::TarBz2);
        assert_eq!(f.file(), "my-pkg-1.0.0-py311h0_0.tar.bz2");
        let c = FileName::parse("numpy-1.26.4-py312h0_0.conda").expect("parse");
        assert_eq!(c.format, Format::Conda);
        for bad in ["x.zip", "nover.conda", "a-1.conda", "A-1-0.conda", "a-1-.conda", "-1-0.conda", "a-1/2-0.conda"] {
            assert!(FileName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_subdirs() {
        assert_eq!(normalize("NumPy").as_deref(), Some("numpy"));
        assert!(normalize("a b").is_none());
        assert!(normalize("").is_none());
        assert!(check_subdir("linux-64").is_ok());
        assert!(check_subdir("linux-65").is_err());
        assert!(check_version("1.0-1").is_err());
        assert!(check_version("1!2.0").is_ok());
    }
}
