//! Small rules every reader of untrusted archives and XML shares: which
//! archive entry names are unsafe, the `h1:` hash of an archive's files (Go
//! modules and Terraform providers), an XML attribute's value bounded, and
//! the only references XML text may hold (the five predefined entities and
//! character references: no document type is ever read, so no entity is
//! resolved or expanded).

use base64::Engine;
use quick_xml::XmlVersion;
use quick_xml::events::BytesStart;
use sha2::{Digest, Sha256};

/// Whether an archive entry's name is unsafe to hold: absolute, `..`,
/// backslashes, NULs or a drive letter.
pub fn unsafe_entry_name(name: &str) -> bool {
    name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.split('/').any(|s| s == "..")
        || name.chars().nth(1) == Some(':')
}

/// The value of attribute `wanted` (by local name), normalised, at most
/// `max` bytes.
pub fn xml_attr(e: &BytesStart<'_>, wanted: &str, max: usize) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("malformed XML attribute: {e}"))?;
        if a.key.local_name().as_ref() == wanted.as_bytes() {
            let v = a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| format!("malformed XML attribute: {e}"))?;
            if v.len() > max {
                return Err("an attribute is too long".into());
            }
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// The character a general reference (`&name;`, without `&` and `;`)
/// stands for, or an error naming an undefined entity.
pub fn xml_reference(name: &[u8]) -> Result<char, String> {
    let name = String::from_utf8_lossy(name);
    let c = match name.as_ref() {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        n => n
            .strip_prefix("#x")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32),
    };
    c.ok_or_else(|| format!("undefined entity &{};", name.chars().take(40).collect::<String>()))
}

/// The `h1:` hash of named contents (dirhash's `Hash1`): SHA-256 over the
/// lines `{sha256 hex}  {name}\n`, sorted by name.
pub fn hash1(mut files: Vec<(String, [u8; 32])>) -> Result<String, String> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Sha256::new();
    for (name, digest) in &files {
        if name.contains('\n') {
            return Err(format!("file name {name:?} contains a newline"));
        }
        summary.update(format!("{}  {name}\n", hex::encode(digest)));
    }
    Ok(format!("h1:{}", base64::engine::general_purpose::STANDARD.encode(summary.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(unsafe_entry_name("../x") && unsafe_entry_name("/etc/x") && unsafe_entry_name("c:/x"));
        assert!(unsafe_entry_name("a\\b") && !unsafe_entry_name("extension/package.json"));
        assert_eq!(xml_reference(b"amp"), Ok('&'));
        assert_eq!(xml_reference(b"#x41"), Ok('A'));
        assert_eq!(xml_reference(b"#65"), Ok('A'));
        assert!(xml_reference(b"xxe").is_err());
    }
}
