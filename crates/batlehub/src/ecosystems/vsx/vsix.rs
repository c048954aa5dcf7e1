//! What BatleHub reads of a VSIX (a ZIP): `extension.vsixmanifest` (XML,
//! a document type declaration refused outright, so no entity is ever
//! resolved or expanded) and `extension/package.json`, each read only up to
//! its declared size (a size that lies is refused), and where the assets
//! (README, changelog, licence, icon) are. The manifest and `package.json`
//! must name the same extension and version. Unsafe entry names (absolute,
//! `..`, backslashes, drive letters) refuse the whole VSIX.

use std::io::{Read, Seek};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::names::{self, Asset, ExtId};

const MAX_ENTRIES: usize = 100_000;
const MAX_TEXT: usize = 64 * 1024;
const MAX_LIST: usize = 256;

/// What the listings say of a release, from its manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `engines.vscode` (`^1.80.0`).
    #[serde(default)]
    pub engine: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub pre_release: bool,
    /// `extensionDependencies`.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub extension_pack: Vec<String>,
    #[serde(default)]
    pub extension_kind: Vec<String>,
    /// The content type the icon is served with, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_type: Option<String>,
    /// Publish time, milliseconds since the epoch (the catalog's; an
    /// upstream's from its metadata).
    #[serde(default)]
    pub timestamp: i64,
}

/// A VSIX as read: who and what it is, and where its assets are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vsix {
    pub id: ExtId,
    pub version: String,
    pub platform: String,
    pub meta: Meta,
    /// Each asset present and its entry in the ZIP.
    pub assets: Vec<(Asset, String)>,
}

/// The manifest's fields BatleHub reads.
#[derive(Debug, Default)]
struct Manifest {
    id: String,
    version: String,
    publisher: String,
    platform: Option<String>,
    display_name: String,
    description: String,
    tags: String,
    categories: String,
    properties: Vec<(String, String)>,
    icon: Option<String>,
    license: Option<String>,
    assets: Vec<(String, String)>,
}

/// Entry `name` of `zip`, whole, at most `limit` bytes (its declared size
/// checked against what it holds).
fn read_entry<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, name: &str, limit: u64) -> Result<Option<Vec<u8>>, String> {
    let mut entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let declared = entry.size();
    if declared > limit {
        return Err(format!("{name} is larger than {limit} bytes"));
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    (&mut entry).take(declared + 1).read_to_end(&mut bytes).map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 != declared {
        return Err(format!("{name} is not the size its entry declares"));
    }
    Ok(Some(bytes))
}

/// Copy entry `name` of the VSIX at `reader` into `out`, at most `limit`
/// bytes (the writer is expected to enforce the limit too).
pub fn copy_entry<R: Read + Seek, W: std::io::Write>(reader: R, name: &str, limit: u64, out: &mut W) -> Result<u64, String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a ZIP archive: {e}"))?;
    let mut entry = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    if entry.size() > limit {
        return Err(format!("{name} is larger than {limit} bytes"));
    }
    let copied = std::io::copy(&mut (&mut entry).take(limit + 1), out).map_err(|e| format!("{name}: {e}"))?;
    if copied > limit {
        return Err(format!("{name} is larger than {limit} bytes"));
    }
    Ok(copied)
}

/// Read a VSIX.
pub fn read<R: Read + Seek>(reader: R) -> Result<Vsix, String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a VSIX (a ZIP archive): {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("the VSIX holds more than {MAX_ENTRIES} entries"));
    }
    let mut entries = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| format!("unreadable entry #{i}: {e}"))?;
        let name = std::str::from_utf8(entry.name_raw()).map_err(|_| format!("entry #{i}: the name is not UTF-8"))?;
        if crate::serve::untrusted::unsafe_entry_name(name) {
            return Err(format!("entry `{}`: unsafe path", name.chars().take(200).collect::<String>()));
        }
        entries.push(name.to_string());
    }
    let xml = read_entry(&mut zip, "extension.vsixmanifest", Asset::VsixManifest.limit())?
        .ok_or("not a VSIX: it has no extension.vsixmanifest")?;
    let manifest = parse_manifest(&xml)?;
    let package_path = manifest
        .assets
        .iter()
        .find(|(t, _)| t == Asset::Manifest.gallery_type())
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| "extension/package.json".into());
    let package = read_entry(&mut zip, &package_path, Asset::Manifest.limit())?
        .ok_or_else(|| format!("not a VSIX: it has no {package_path}"))?;
    let package: Value = serde_json::from_slice(&package).map_err(|e| format!("{package_path} is not JSON: {e}"))?;
    let field = |k: &str| package.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let id = ExtId::of(&manifest.publisher, &manifest.id).map_err(|e| format!("extension.vsixmanifest: {e}"))?;
    names::check_version(&manifest.version).map_err(|e| format!("extension.vsixmanifest: {e}"))?;
    let in_package = ExtId::of(&field("publisher"), &field("name")).map_err(|e| format!("{package_path}: {e}"))?;
    if !in_package.same(&id) || field("version") != manifest.version {
        return Err(format!(
            "extension.vsixmanifest names {} {} but {package_path} names {} {}",
            id.display(),
            manifest.version,
            in_package.display(),
            field("version")
        ));
    }
    let platform = manifest.platform.clone().unwrap_or_else(|| names::UNIVERSAL.into());
    names::check_platform(&platform).map_err(|e| format!("extension.vsixmanifest: {e}"))?;
    let property = |k: &str| manifest.properties.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
    let list = |s: &str| -> Vec<String> {
        s.split(',').map(str::trim).filter(|t| !t.is_empty()).take(MAX_LIST).map(str::to_string).collect()
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).take(MAX_LIST).map(str::to_string).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let repository = match package.get("repository") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o.get("url").and_then(Value::as_str).unwrap_or("").to_string(),
        _ => String::new(),
    };
    // Assets: where the manifest says, else where vsce puts them.
    let mut assets: Vec<(Asset, String)> = Vec::new();
    for asset in Asset::ALL {
        let declared = match asset {
            Asset::VsixManifest => Some("extension.vsixmanifest".to_string()),
            Asset::Icon => manifest.icon.clone(),
            _ => manifest.assets.iter().find(|(t, _)| t == asset.gallery_type()).map(|(_, p)| p.clone()),
        };
        let declared = declared.or_else(|| {
            let wanted: &[&str] = match asset {
                Asset::Readme => &["extension/readme.md"],
                Asset::Changelog => &["extension/changelog.md"],
                Asset::License => &["extension/license", "extension/license.txt", "extension/license.md"],
                _ => &[],
            };
            entries.iter().find(|e| wanted.contains(&e.to_ascii_lowercase().as_str())).cloned()
        });
        if let Some(path) = declared.filter(|p| entries.contains(p)) {
            assets.push((asset, path));
        }
    }
    let icon_type = assets.iter().find(|(a, _)| *a == Asset::Icon).map(|(_, p)| icon_type(p).to_string());
    let meta = Meta {
        display_name: if manifest.display_name.is_empty() { field("displayName") } else { manifest.display_name.clone() },
        description: if manifest.description.is_empty() { field("description") } else { manifest.description.clone() },
        categories: list(&manifest.categories),
        tags: list(&manifest.tags),
        engine: property("Microsoft.VisualStudio.Code.Engine")
            .or_else(|| package.pointer("/engines/vscode").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default(),
        repository,
        license: field("license"),
        pre_release: property("Microsoft.VisualStudio.Code.PreRelease").is_some_and(|v| v == "true"),
        dependencies: strings(package.get("extensionDependencies")),
        extension_pack: strings(package.get("extensionPack")),
        extension_kind: strings(package.get("extensionKind")),
        icon_type,
        timestamp: 0,
    };
    for dep in meta.dependencies.iter().chain(&meta.extension_pack) {
        ExtId::parse(dep).map_err(|e| format!("{package_path}: a dependency: {e}"))?;
    }
    Ok(Vsix { id, version: manifest.version, platform, meta, assets })
}

/// The content type an icon is served with: images by their extension; an
/// SVG (which could run script on the registry's origin) never as an image.
pub fn icon_type(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        "image/jpeg"
    } else if lower.ends_with(".gif") {
        "image/gif"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

/// The content type an asset is served with.
pub fn asset_type(asset: Asset, meta: &Meta) -> String {
    match asset {
        Asset::Manifest => "application/json".into(),
        Asset::Readme | Asset::Changelog => "text/markdown; charset=utf-8".into(),
        Asset::VsixManifest | Asset::License => "text/plain; charset=utf-8".into(),
        Asset::Icon => meta.icon_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
    }
}

fn attr(e: &BytesStart<'_>, wanted: &str) -> Result<Option<String>, String> {
    crate::serve::untrusted::xml_attr(e, wanted, MAX_TEXT)
}

/// Parse `extension.vsixmanifest` (elements matched by local name).
fn parse_manifest(xml: &[u8]) -> Result<Manifest, String> {
    let mut reader = Reader::from_reader(xml);
    let mut m = Manifest::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut buf = Vec::new();
    let mut roots = 0;
    loop {
        let event = reader.read_event_into(&mut buf);
        let start = match &event {
            Ok(Event::Start(e)) => Some((e.clone().into_owned(), false)),
            Ok(Event::Empty(e)) => Some((e.clone().into_owned(), true)),
            _ => None,
        };
        match event {
            Ok(Event::DocType(_)) => return Err("extension.vsixmanifest: document type declarations are not accepted".into()),
            Ok(Event::Start(_)) | Ok(Event::Empty(_)) => {
                let (e, empty) = start.ok_or("malformed XML")?;
                if path.is_empty() {
                    roots += 1;
                }
                if path.len() > 32 {
                    return Err("extension.vsixmanifest: elements nested too deep".into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                match (p.as_slice(), name.as_str()) {
                    (["PackageManifest", "Metadata"], "Identity") => {
                        m.id = attr(&e, "Id")?.unwrap_or_default();
                        m.version = attr(&e, "Version")?.unwrap_or_default();
                        m.publisher = attr(&e, "Publisher")?.unwrap_or_default();
                        m.platform = attr(&e, "TargetPlatform")?.filter(|p| !p.is_empty());
                    }
                    (["PackageManifest", "Metadata", "Properties"], "Property") if m.properties.len() < MAX_LIST => {
                        if let (Some(k), Some(v)) = (attr(&e, "Id")?, attr(&e, "Value")?) {
                            m.properties.push((k, v));
                        }
                    }
                    (["PackageManifest", "Assets"], "Asset") if m.assets.len() < MAX_LIST => {
                        if let (Some(t), Some(p)) = (attr(&e, "Type")?, attr(&e, "Path")?) {
                            m.assets.push((t, p));
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
                if let ["PackageManifest", "Metadata", field] = p.as_slice() {
                    let value = text.trim().to_string();
                    match *field {
                        "DisplayName" => m.display_name = value,
                        "Description" => m.description = value,
                        "Tags" => m.tags = value,
                        "Categories" => m.categories = value,
                        "Icon" => m.icon = Some(value).filter(|v| !v.is_empty()),
                        "License" => m.license = Some(value).filter(|v| !v.is_empty()),
                        _ => {}
                    }
                }
                text.clear();
                path.pop();
            }
            Ok(Event::Text(t)) => push_text(&mut text, &t.decode().map_err(|e| format!("malformed XML: {e}"))?)?,
            Ok(Event::CData(t)) => push_text(&mut text, &t.decode().map_err(|e| format!("malformed XML: {e}"))?)?,
            Ok(Event::GeneralRef(r)) => {
                let c = crate::serve::untrusted::xml_reference(r.as_ref())?;
                push_text(&mut text, c.encode_utf8(&mut [0u8; 4]))?;
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("extension.vsixmanifest: malformed XML at byte {}: {e}", reader.buffer_position())),
        }
        buf.clear();
    }
    if !path.is_empty() || roots != 1 {
        return Err("extension.vsixmanifest: malformed XML".into());
    }
    if m.id.is_empty() || m.publisher.is_empty() || m.version.is_empty() {
        return Err("extension.vsixmanifest: <Identity> needs Id, Publisher and Version".into());
    }
    Ok(m)
}

fn push_text(text: &mut String, chunk: &str) -> Result<(), String> {
    if text.len() + chunk.len() > MAX_TEXT {
        return Err("extension.vsixmanifest: an element's text is too long".into());
    }
    text.push_str(chunk);
    Ok(())
}
