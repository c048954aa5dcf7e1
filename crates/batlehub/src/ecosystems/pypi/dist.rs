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
    matches!((parts.next(), parts.next(), parts.next()), (Some(_), Some("PKG-INFO"), None))
}

fn from_zip<R: Read + Seek>(reader: R, wanted: impl Fn(&str) -> bool) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| format!("not a valid zip archive: {e}"))?;
    let name = archive
        .file_names()
        .find(|n| wanted(n))
        .map(str::to_string)
        .ok_or_else(|| "the archive has no metadata file".to_string())?;
    let file = archive.by_name(&name).map_err(|e| format!("cannot read {name}: {e}"))?;
    let mut out = Vec::new();
    file.take(MAX_METADATA).read_to_end(&mut out).map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok(out)
}

fn from_tar_gz<R: Read>(reader: R) -> Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let entries = archive.entries().map_err(|e| format!("not a gzipped tarball: {e}"))?;
    for (i, entry) in entries.enumerate() {
        if i > 200_000 {
            break;
        }
        let entry = entry.map_err(|e| format!("not a gzipped tarball: {e}"))?;
        let path = entry.path().map_err(|e| format!("bad path in the sdist: {e}"))?.to_string_lossy().into_owned();
        if top_level_pkg_info(&path) {
            let mut out = Vec::new();
            entry.take(MAX_METADATA).read_to_end(&mut out).map_err(|e| format!("cannot read PKG-INFO: {e}"))?;
            return Ok(out);
        }
    }
    Err("the sdist has no PKG-INFO".into())
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
