//! The one declaration of the ecosystems this build serves.
//!
//! [`for_each_ecosystem!`] lists them, one line each: the folder under
//! `ecosystems/`, then the registry type (or types) it serves, each as the
//! type implementing the contract (`serve::Ecosystem`) in that folder and the
//! name the configuration's `type = "..."` uses. Everything that varies by
//! ecosystem is generated from this list: [`Kind`] here (what the
//! configuration and the lower modules name), and in `ecosystems/mod.rs` the
//! module declarations and every dispatch function. Nothing else lists the
//! ecosystems, so nothing can drift.
//!
//! This module sits at the bottom of the import graph: it names the folders
//! as identifiers for the macro and imports nothing.

/// Call `$then!` with the list of ecosystems.
///
/// Adding an ecosystem is one folder under `ecosystems/` and one line here.
macro_rules! for_each_ecosystem {
    ($then:ident) => {
        $then! {
            npm => Npm("npm");
            cargo => Cargo("cargo");
            pypi => Pypi("pypi");
            go => Go("goproxy");
            maven => Maven("maven");
            composer => Composer("composer");
            rubygems => Rubygems("rubygems");
            nuget => Nuget("nuget");
            conda => Conda("conda");
            vsx => Openvsx("openvsx"), VscodeMarketplace("vscode-marketplace");
            terraform => Terraform("terraform");
        }
    };
}
pub(crate) use for_each_ecosystem;

/// Every registry type of the BatleHub configuration format (the user
/// guide's list). Those without an ecosystem in this build are refused as
/// "not implemented in this version yet" rather than as unknown.
pub const FORMAT_TYPES: &[&str] = &[
    "npm",
    "cargo",
    "goproxy",
    "pypi",
    "conda",
    "composer",
    "nuget",
    "rubygems",
    "maven",
    "terraform",
    "openvsx",
    "vscode-marketplace",
];

macro_rules! define_kind {
    ($( $module:ident => $( $variant:ident($name:literal) ),+ ; )*) => {
        /// A registry type this build serves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $( $( $variant, )+ )*
        }

        impl Kind {
            /// Every registry type, in declaration order.
            pub const ALL: &'static [Kind] = &[ $( $( Kind::$variant, )+ )* ];

            /// The configuration's name of the type.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $( Kind::$variant => $name, )+ )*
                }
            }

            /// The folder under `ecosystems/` that serves the type.
            pub fn folder(self) -> &'static str {
                match self {
                    $( $( Kind::$variant => stringify!($module), )+ )*
                }
            }
        }
    };
}
for_each_ecosystem!(define_kind);

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Types of the configuration format that no ecosystem serves yet.
    pub fn planned() -> impl Iterator<Item = &'static str> {
        FORMAT_TYPES.iter().copied().filter(|t| Kind::parse(t).is_none())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Some(k) = Kind::parse(&s) {
            return Ok(k);
        }
        let supported: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let supported = supported.join(", ");
        if FORMAT_TYPES.contains(&s.as_str()) {
            Err(serde::de::Error::custom(format!(
                "registry type `{s}` is not implemented in this version yet (supported: {supported})"
            )))
        } else {
            Err(serde::de::Error::custom(format!("unknown registry type `{s}` (supported: {supported})")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_a_format_type_and_round_trips() {
        for k in Kind::ALL {
            assert!(FORMAT_TYPES.contains(&k.as_str()), "{k} is not a type of the configuration format");
            assert_eq!(Kind::parse(k.as_str()), Some(*k));
        }
        let planned: Vec<&str> = Kind::planned().collect();
        assert_eq!(planned.len() + Kind::ALL.len(), FORMAT_TYPES.len());
        assert!(Kind::parse("nope").is_none());
    }
}
