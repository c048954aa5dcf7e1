//! What BatleHub reads of a `.nupkg`: the one `.nuspec` at the root of the
//! ZIP, read only up to its declared size (at most [`MAX_NUSPEC`]; a size
//! that lies is refused), and the manifest's metadata out of its XML. A
//! document type declaration is refused outright, so no external entity is
//! ever resolved and no entity expanded; only the predefined entities and
//! character references are read. Unsafe entry names (absolute, `..`,
//! backslashes, drive letters) refuse the whole package.

use std::io::{Read, Seek};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

/// The largest `.nuspec` read.
pub const MAX_NUSPEC: u64 = 1 << 20;
/// The most entries a package may hold.
const MAX_ENTRIES: usize = 100_000;
/// The longest text kept of one element or attribute.
const MAX_TEXT: usize = 64 * 1024;
/// The most dependencies read.
const MAX_DEPENDENCIES: usize = 4096;

/// One dependency of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub id: String,
    /// The version range as written (`[1.0, 2.0)`, `1.0`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

/// The dependencies for one target framework (`None`: any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_framework: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

/// A package manifest's metadata (what the registration pages and search
/// show).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nuspec {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub authors: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub project_url: String,
    #[serde(default)]
    pub license_url: String,
    /// An SPDX expression (`<license type="expression">`).
    #[serde(default)]
    pub license_expression: String,
    #[serde(default)]
    pub icon_url: String,
    #[serde(default)]
    pub require_license_acceptance: bool,
    #[serde(default)]
    pub min_client_version: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub dependency_groups: Vec<DependencyGroup>,
    #[serde(default)]
    pub package_types: Vec<String>,
}

/// The package's `.nuspec`: its bytes and what it says.
pub fn read_nupkg<R: Read + Seek>(reader: R) -> Result<(Nuspec, Vec<u8>), String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a ZIP archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("the package holds more than {MAX_ENTRIES} entries"));
    }
    let mut found: Option<usize> = None;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| format!("unreadable entry #{i}: {e}"))?;
        let name = std::str::from_utf8(entry.name_raw()).map_err(|_| format!("entry #{i}: the name is not UTF-8"))?;
        if crate::serve::untrusted::unsafe_entry_name(name) {
            return Err(format!("entry `{}`: unsafe path", name.chars().take(200).collect::<String>()));
        }
        if !name.contains('/') && name.to_ascii_lowercase().ends_with(".nuspec") && !entry.is_dir() {
            if found.is_some() {
                return Err("the package holds more than one .nuspec at its root".into());
            }
            found = Some(i);
        }
    }
    let index = found.ok_or("the package has no .nuspec at its root")?;
    let mut entry = zip.by_index(index).map_err(|e| format!("the .nuspec: {e}"))?;
    let declared = entry.size();
    if declared > MAX_NUSPEC {
        return Err(format!("the .nuspec is larger than {MAX_NUSPEC} bytes"));
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    (&mut entry).take(declared + 1).read_to_end(&mut bytes).map_err(|e| format!("the .nuspec: {e}"))?;
    if bytes.len() as u64 != declared {
        return Err("the .nuspec is not the size its entry declares".into());
    }
    let nuspec = parse_nuspec(&bytes)?;
    Ok((nuspec, bytes))
}

fn attr(e: &BytesStart<'_>, wanted: &str) -> Result<Option<String>, String> {
    crate::serve::untrusted::xml_attr(e, wanted, MAX_TEXT)
}

/// Parse a `.nuspec` (namespaces of any schema version are ignored: the
/// elements are matched by local name).
pub fn parse_nuspec(xml: &[u8]) -> Result<Nuspec, String> {
    if xml.len() as u64 > MAX_NUSPEC {
        return Err(format!("the .nuspec is larger than {MAX_NUSPEC} bytes"));
    }
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut spec = Nuspec::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut license_type: Option<String> = None;
    let mut buf = Vec::new();
    let mut roots = 0;
    let mut deps = 0usize;
    loop {
        let event = reader.read_event_into(&mut buf);
        let (start, empty) = match &event {
            Ok(Event::Start(e)) => (Some(e.clone().into_owned()), false),
            Ok(Event::Empty(e)) => (Some(e.clone().into_owned()), true),
            _ => (None, false),
        };
        match event {
            Ok(Event::DocType(_)) => return Err("document type declarations are not accepted".into()),
            Ok(Event::Start(_)) | Ok(Event::Empty(_)) => {
                let e = start.ok_or("malformed XML")?;
                if path.is_empty() {
                    roots += 1;
                }
                if path.len() > 32 {
                    return Err("elements nested too deep".into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                match (p.as_slice(), name.as_str()) {
                    (["package"], "metadata") => {
                        if let Some(v) = attr(&e, "minClientVersion")? {
                            spec.min_client_version = v;
                        }
                    }
                    (["package", "metadata"], "license") => license_type = attr(&e, "type")?,
                    (["package", "metadata", "dependencies"], "group") => {
                        spec.dependency_groups
                            .push(DependencyGroup { target_framework: attr(&e, "targetFramework")?, dependencies: Vec::new() });
                    }
                    (["package", "metadata", "dependencies"], "dependency")
                    | (["package", "metadata", "dependencies", "group"], "dependency") => {
                        deps += 1;
                        if deps > MAX_DEPENDENCIES {
                            return Err(format!("more than {MAX_DEPENDENCIES} dependencies"));
                        }
                        let id = attr(&e, "id")?.unwrap_or_default();
                        super::names::PackageId::parse(&id).map_err(|e| format!("dependency: {e}"))?;
                        let dep = Dependency { id, range: attr(&e, "version")?.filter(|v| !v.trim().is_empty()) };
                        if p.len() == 3 {
                            // Dependencies outside any group: one group for every framework.
                            if spec.dependency_groups.last().is_none_or(|g| g.target_framework.is_some()) {
                                spec.dependency_groups.push(DependencyGroup::default());
                            }
                        } else if spec.dependency_groups.is_empty() {
                            return Err("malformed dependency group".into());
                        }
                        if let Some(g) = spec.dependency_groups.last_mut() {
                            g.dependencies.push(dep);
                        }
                    }
                    (["package", "metadata", "packageTypes"], "packageType") => {
                        if let Some(n) = attr(&e, "name")? {
                            spec.package_types.push(n);
                        }
                    }
                    _ => {}
                }
                if !empty {
                    path.push(name);
                    text.clear();
                }
            }
            Ok(Event::End(_)) => {
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                if let ["package", "metadata", field] = p.as_slice() {
                    let value = text.trim().to_string();
                    match *field {
                        "id" => spec.id = value,
                        "version" => spec.version = value,
                        "title" => spec.title = value,
                        "authors" => spec.authors = value,
                        "description" => spec.description = value,
                        "summary" => spec.summary = value,
                        "tags" => spec.tags = value,
                        "projectUrl" => spec.project_url = value,
                        "licenseUrl" => spec.license_url = value,
                        "iconUrl" => spec.icon_url = value,
                        "language" => spec.language = value,
                        "requireLicenseAcceptance" => spec.require_license_acceptance = value.eq_ignore_ascii_case("true"),
                        "license" if license_type.as_deref() == Some("expression") => spec.license_expression = value,
                        _ => {}
                    }
                }
                text.clear();
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let chunk = t.decode().map_err(|e| format!("malformed XML: {e}"))?;
                if text.len() + chunk.len() > MAX_TEXT {
                    return Err("an element's text is too long".into());
                }
                text.push_str(&chunk);
            }
            Ok(Event::CData(t)) => {
                let chunk = t.decode().map_err(|e| format!("malformed XML: {e}"))?;
                if text.len() + chunk.len() > MAX_TEXT {
                    return Err("an element's text is too long".into());
                }
                text.push_str(&chunk);
            }
            Ok(Event::GeneralRef(r)) => text.push(crate::serve::untrusted::xml_reference(r.as_ref())?),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("malformed XML at byte {}: {e}", reader.buffer_position())),
        }
        buf.clear();
    }
    if !path.is_empty() {
        return Err("malformed XML: unclosed elements".into());
    }
    if roots != 1 {
        return Err("malformed XML: expected one root element".into());
    }
    if spec.id.is_empty() {
        return Err("the .nuspec has no <id>".into());
    }
    if spec.version.is_empty() {
        return Err("the .nuspec has no <version>".into());
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (n, d) in entries {
            w.start_file(*n, opts).expect("start");
            w.write_all(d).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    const SPEC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata minClientVersion="2.12">
    <id>My.Lib</id>
    <version>1.0.0</version>
    <authors>Alice &amp; Bob</authors>
    <description><![CDATA[A <b>library</b>]]></description>
    <license type="expression">MIT</license>
    <tags>a b</tags>
    <dependencies>
      <group targetFramework="net6.0">
        <dependency id="Other.Lib" version="[1.0.0, 2.0.0)" />
      </group>
      <group targetFramework=".NETStandard2.0" />
    </dependencies>
    <packageTypes><packageType name="Dependency" /></packageTypes>
  </metadata>
</package>"#;

    #[test]
    fn reads_the_manifest() {
        let (spec, bytes) = read_nupkg(Cursor::new(zip(&[("My.Lib.nuspec", SPEC.as_bytes()), ("lib/net6.0/a.dll", b"x")]))).expect("read");
        assert_eq!(bytes, SPEC.as_bytes());
        assert_eq!((spec.id.as_str(), spec.version.as_str(), spec.authors.as_str()), ("My.Lib", "1.0.0", "Alice & Bob"));
        assert_eq!(spec.description, "A <b>library</b>");
        assert_eq!(spec.license_expression, "MIT");
        assert_eq!(spec.min_client_version, "2.12");
        assert_eq!(spec.dependency_groups.len(), 2);
        assert_eq!(spec.dependency_groups[0].dependencies[0].range.as_deref(), Some("[1.0.0, 2.0.0)"));
        assert_eq!(spec.package_types, vec!["Dependency".to_string()]);
        let flat = SPEC.replace("<group targetFramework=\"net6.0\">", "").replace("</group>", "").replace("<group targetFramework=\".NETStandard2.0\" />", "");
        let spec = parse_nuspec(flat.as_bytes()).expect("flat dependencies");
        assert_eq!(spec.dependency_groups, vec![DependencyGroup { target_framework: None, dependencies: vec![Dependency { id: "Other.Lib".into(), range: Some("[1.0.0, 2.0.0)".into()) }] }]);
    }

    #[test]
    fn refuses_hostile_packages() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE package [<!ENTITY x SYSTEM "file:///etc/passwd">]><package><metadata><id>&x;</id><version>1.0.0</version></metadata></package>"#;
        let undefined = r#"<package><metadata><id>&x;</id><version>1.0.0</version></metadata></package>"#;
        for (what, entries) in [
            ("no nuspec", vec![("lib/a.dll", b"x".as_slice())]),
            ("nested nuspec only", vec![("a/A.nuspec", SPEC.as_bytes())]),
            ("two nuspecs", vec![("A.nuspec", SPEC.as_bytes()), ("B.nuspec", SPEC.as_bytes())]),
            ("traversal", vec![("A.nuspec", SPEC.as_bytes()), ("../evil", b"x".as_slice())]),
            ("absolute", vec![("A.nuspec", SPEC.as_bytes()), ("/evil", b"x".as_slice())]),
            ("backslash", vec![("A.nuspec", SPEC.as_bytes()), ("a\\..\\evil", b"x".as_slice())]),
            ("xxe", vec![("A.nuspec", xxe.as_bytes())]),
            ("undefined entity", vec![("A.nuspec", undefined.as_bytes())]),
            ("not xml", vec![("A.nuspec", b"<package><metadata>".as_slice())]),
            ("no id", vec![("A.nuspec", b"<package><metadata><version>1.0</version></metadata></package>".as_slice())]),
        ] {
            assert!(read_nupkg(Cursor::new(zip(&entries))).is_err(), "{what}");
        }
        assert!(read_nupkg(Cursor::new(b"not a zip".to_vec())).is_err());
        let big = format!("<package><metadata><id>a</id><version>1.0</version><description>{}</description></metadata></package>", "x".repeat(MAX_NUSPEC as usize));
        assert!(read_nupkg(Cursor::new(zip(&[("A.nuspec", big.as_bytes())]))).is_err(), "too large");
    }
}
