//! Core metadata out of wheels and sdists: `{name}-{version}.dist-info/METADATA`
//! in a wheel (served as the PEP 658 `.metadata` file), `{top}/PKG-INFO` in an
//! sdist. Untrusted bytes: the fuzz target `pypi_dist` drives this module.

use std::io::{Read, Seek};

use super::names::DistKind;

/// Read no more of a metadata file than this.
const MAX_METADATA: u64 = 4 * 1024 * 1024;

/// The fields of a core metadata file BatleHub uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    pub name: String,
    pub version: String,
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
    pub author: Option<String>,
    pub license: Option<String>,
    pub home_page: Option<String>,
}

/// Parse the RFC 822 style header block of a metadata file.
pub fn parse_metadata(raw: &[u8]) -> Result<CoreMetadata, String> {
    let text = String::from_utf8_lossy(raw);
    let mut m = CoreMetadata::default();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            break; // the body (long description) follows
        }
        if line.starts_with([' ', '\t']) {
            // A continuation: only multi-line free text uses it.
            let _ = &last;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        match key.as_str() {
            "name" => m.name = value,
            "version" => m.version = value,
            "summary" => m.summary = Some(value),
            "requires-python" => m.requires_python = Some(value),
            "requires-dist" => m.requires_dist.push(value),
            "author" => m.author = Some(value),
            "license" => m.license = Some(value),
            "home-page" => m.home_page = Some(value),
            _ => {}
        }
        last = Some(key);
    }
    if m.name.is_empty() || m.version.is_empty() {
        return Err("the metadata has no Name or Version".into());
    }
    Ok(m)
}

/// The raw metadata file of a distribution.
pub fn extract<R: Read + Seek>(kind: DistKind, reader: R) -> Result<Vec<u8>, String> {
    match kind {
        DistKind::Wheel => from_zip(reader, |path| {
            let mut parts = path.split('/');
            matches!((parts.next(), parts.next(), parts.next()), (Some(dir), Some("METADATA"), None) if dir.ends_with(".dist-info"))
        }),
        DistKind::SdistZip => from_zip(reader, top_level_pkg_info),
        DistKind::SdistTarGz => from_tar_gz(reader),
    }
}

fn top_level_pkg_info(path: &str) -> bool {
    let mut parts = path.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(top), Some("PKG-INFO"), None) if !matches!(top, "" | "." | ".."))
}

/// A path an installer may unpack: relative, no `..`, no backslashes.
fn safe_path(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && !path.contains('\\') && !path.split('/').any(|c| c == "..")
}

/// The most entries, and unpacked bytes, a distribution may hold.
const MAX_ENTRIES: usize = 200_000;
const MAX_UNPACKED_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Read a metadata file whole, refusing one larger than [`MAX_METADATA`].
fn read_metadata(file: impl Read, name: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    file.take(MAX_METADATA + 1).read_to_end(&mut out).map_err(|e| format!("cannot read {name}: {e}"))?;
    if out.len() as u64 > MAX_METADATA {
        return Err(format!("{name} is larger than {MAX_METADATA} bytes"));
    }
    Ok(out)
}

fn from_zip<R: Read + Seek>(reader: R, wanted: impl Fn(&str) -> bool) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| format!("not a valid zip archive: {e}"))?;
    if archive.len() > MAX_ENTRIES {
        return Err(format!("the archive has more than {MAX_ENTRIES} entries"));
    }
    if let Some(bad) = archive.file_names().find(|n| !safe_path(n)) {
        return Err(format!("the archive entry {bad} is outside the archive"));
    }
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| format!("not a valid zip archive: {e}"))?;
        if entry.is_symlink() {
            return Err(format!("the archive entry {} is a link (links are refused)", entry.name()));
        }
    }
    let name = archive
        .file_names()
        .find(|n| wanted(n))
        .map(str::to_string)
        .ok_or_else(|| "the archive has no metadata file".to_string())?;
    let file = archive.by_name(&name).map_err(|e| format!("cannot read {name}: {e}"))?;
    read_metadata(file, &name)
}

fn from_tar_gz<R: Read>(reader: R) -> Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let entries = archive.entries().map_err(|e| format!("not a gzipped tarball: {e}"))?;
    let mut found = None;
    let mut unpacked: u64 = 0;
    for (i, entry) in entries.enumerate() {
        if i >= MAX_ENTRIES {
            return Err(format!("the sdist has more than {MAX_ENTRIES} entries"));
        }
        let entry = entry.map_err(|e| format!("not a gzipped tarball: {e}"))?;
        let path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| "a path in the sdist is not UTF-8".to_string())?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions()) {
            return Err(format!("the sdist entry {path} is not a file or a directory (links are refused)"));
        }
        if !safe_path(&path) {
            return Err(format!("the sdist entry {path} is outside the archive"));
        }
        unpacked = unpacked.saturating_add(entry.header().size().unwrap_or(0));
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(format!("the sdist unpacks to more than {MAX_UNPACKED_BYTES} bytes"));
        }
        if found.is_none() && top_level_pkg_info(&path) {
            found = Some(read_metadata(entry, "PKG-INFO")?);
        }
    }
    found.ok_or_else(|| "the sdist has no PKG-INFO".into())
}

/// For tests and the fuzz target: try both archive kinds on `bytes`.
pub fn extract_any(bytes: &[u8]) -> Option<CoreMetadata> {
    for kind in [DistKind::Wheel, DistKind::SdistZip, DistKind::SdistTarGz] {
        if let Ok(raw) = extract(kind, std::io::Cursor::new(bytes))
            && let Ok(m) = parse_metadata(&raw)
        {
            return Some(m);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub fn wheel(name: &str, version: &str) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        w.start_file(format!("{name}/__init__.py"), opts).expect("start");
        w.write_all(b"x = 1\n").expect("write");
        w.start_file(format!("{name}-{version}.dist-info/METADATA"), opts).expect("start");
        w.write_all(format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\nRequires-Dist: requests>=2\nSummary: hi\n\nLong text\nName: not-this\n").as_bytes()).expect("write");
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn wheels_and_sdists() {
        let raw = extract(DistKind::Wheel, std::io::Cursor::new(wheel("my_pkg", "1.0"))).expect("metadata");
        let m = parse_metadata(&raw).expect("parsed");
        assert_eq!(m.name, "my_pkg");
        assert_eq!(m.version, "1.0");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.requires_dist, vec!["requests>=2".to_string()]);
        // sdist
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let info = b"Metadata-Version: 2.1\nName: my-pkg\nVersion: 1.0\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(info.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "my-pkg-1.0/PKG-INFO", &info[..]).expect("append");
        let sdist = b.into_inner().expect("tar").finish().expect("gz");
        let m = parse_metadata(&extract(DistKind::SdistTarGz, std::io::Cursor::new(sdist)).expect("pkg-info"))
            .expect("parsed");
        assert_eq!(m.name, "my-pkg");
        assert!(extract(DistKind::Wheel, std::io::Cursor::new(b"not a zip".to_vec())).is_err());
        assert!(extract(DistKind::SdistTarGz, std::io::Cursor::new(b"not gzip".to_vec())).is_err());
        assert!(parse_metadata(b"Summary: no name\n").is_err());
    }
}

#[cfg(test)]
mod hostile_tests {
    use super::*;
    use std::io::Write;

    /// An sdist with `entries` (path written into the header as is, type).
    fn sdist(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            if kind.is_symlink() {
                h.set_link_name("/etc/passwd").expect("link");
            }
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz")
    }

    const INFO: &[u8] = b"Metadata-Version: 2.1\nName: my-pkg\nVersion: 1.0\n";

    #[test]
    fn traversal_links_and_oversized_metadata_are_refused() {
        use tar::EntryType::{Regular, Symlink};
        let ok = sdist(&[("my-pkg-1.0/PKG-INFO", Regular, INFO), ("my-pkg-1.0/setup.py", Regular, b"")]);
        assert!(extract(DistKind::SdistTarGz, std::io::Cursor::new(ok)).is_ok());
        for bad in [
            sdist(&[("../PKG-INFO", Regular, INFO)]),
            sdist(&[("my-pkg-1.0/PKG-INFO", Regular, INFO), ("my-pkg-1.0/../../etc/x", Regular, b"x")]),
            sdist(&[("my-pkg-1.0/PKG-INFO", Regular, INFO), ("/etc/cron.d/x", Regular, b"x")]),
            sdist(&[("my-pkg-1.0/PKG-INFO", Regular, INFO), ("my-pkg-1.0/link", Symlink, b"")]),
        ] {
            assert!(extract(DistKind::SdistTarGz, std::io::Cursor::new(bad)).is_err());
        }
        // A wheel whose METADATA is over the limit is refused, not cut.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        w.start_file("my_pkg-1.0.dist-info/METADATA", opts).expect("start");
        w.write_all(INFO).expect("write");
        w.write_all(&vec![b'x'; MAX_METADATA as usize]).expect("write");
        let big = w.finish().expect("finish").into_inner();
        let err = extract(DistKind::Wheel, std::io::Cursor::new(big)).expect_err("oversized");
        assert!(err.contains("larger than"), "{err}");
        // A wheel entry outside the archive.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("my_pkg-1.0.dist-info/METADATA", opts).expect("start");
        w.write_all(INFO).expect("write");
        w.start_file("../../evil.pth", opts).expect("start");
        w.write_all(b"import os").expect("write");
        let evil = w.finish().expect("finish").into_inner();
        assert!(extract(DistKind::Wheel, std::io::Cursor::new(evil)).is_err());
    }
}
