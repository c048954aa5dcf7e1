//! Reading the archives publishers upload, safely: a provider's zip (one
//! platform's package: the `terraform-provider-{type}` executable, and
//! perhaps its licence files) and a module's `.tar.gz` (its configuration).
//!
//! Both are read as streams from the uploaded file and refused on unsafe
//! entry names (absolute, `..`, backslashes), links, too many entries or
//! more than [`MAX_UNPACKED`] bytes unpacked (a bomb). A provider's `h1:`
//! hash (the hash Terraform records in `.terraform.lock.hcl`: dirhash over
//! its unpacked files) is computed here while it is read.

use std::io::{Read, Seek};

use sha2::{Digest, Sha256};

use crate::serve::untrusted::{hash1, unsafe_entry_name};

/// The most bytes an archive may unpack to.
pub const MAX_UNPACKED: u64 = 1 << 30;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 10_000;

/// What a provider package is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderZip {
    /// `h1:...` over its unpacked files.
    pub h1: String,
    /// The executable's name in it.
    pub executable: String,
}

fn sha256_of(mut r: impl Read, budget: &mut u64) -> Result<[u8; 32], String> {
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).map_err(|e| format!("unreadable entry: {e}"))?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        *budget = budget.checked_sub(n as u64).ok_or("it unpacks to more than its limit (a bomb?)")?;
        hasher.update(&buf[..n]);
    }
}

/// Read a provider's zip for `kind` (its type): it must hold the provider's
/// executable, `terraform-provider-{type}` (with a version suffix or an
/// `.exe` as HashiCorp's builds have), at its top level.
pub fn provider_zip<R: Read + Seek>(reader: R, kind: &str) -> Result<ProviderZip, String> {
    provider_zip_within(reader, kind, MAX_UNPACKED)
}

/// [`provider_zip`], refusing more than `max` bytes unpacked.
pub fn provider_zip_within<R: Read + Seek>(reader: R, kind: &str, max: u64) -> Result<ProviderZip, String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("not a zip archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("more than {MAX_ENTRIES} entries"));
    }
    let prefix = format!("terraform-provider-{kind}");
    let mut budget = max;
    let mut hashes = Vec::new();
    let mut executable = None;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| format!("unreadable entry: {e}"))?;
        let name = entry.name().to_string();
        if unsafe_entry_name(&name) {
            return Err(format!("unsafe entry name {name:?}"));
        }
        if entry.is_symlink() {
            return Err(format!("{name:?} is a link"));
        }
        if entry.is_dir() {
            continue;
        }
        if !name.contains('/') && name.starts_with(&prefix) {
            executable.get_or_insert_with(|| name.clone());
        }
        let digest = sha256_of(entry, &mut budget)?;
        hashes.push((name, digest));
    }
    let executable = executable.ok_or_else(|| format!("no {prefix} executable at the top of the zip"))?;
    Ok(ProviderZip { h1: hash1(hashes)?, executable })
}

/// Read a module's `.tar.gz`: it must hold Terraform configuration (a
/// `.tf`, `.tf.json` or `.tofu` file).
pub fn module_tgz<R: Read>(reader: R) -> Result<(), String> {
    module_tgz_within(reader, MAX_UNPACKED)
}

/// [`module_tgz`], refusing more than `max` bytes unpacked.
pub fn module_tgz_within<R: Read>(reader: R, max: u64) -> Result<(), String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut budget = max;
    let mut configuration = false;
    let entries = archive.entries().map_err(|e| format!("not a .tar.gz archive: {e}"))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        let mut entry = entry.map_err(|e| format!("not a .tar.gz archive: {e}"))?;
        let path = entry.path().map_err(|e| format!("unreadable entry name: {e}"))?;
        let name = path.to_str().ok_or("an entry name is not UTF-8")?.to_string();
        let name = name.strip_prefix("./").unwrap_or(&name).to_string();
        if unsafe_entry_name(&name) {
            return Err(format!("unsafe entry name {name:?}"));
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory => continue,
            // pax and GNU headers the tar crate reads itself.
            t if t.is_pax_global_extensions() || t.is_pax_local_extensions() || t.is_gnu_longname() => continue,
            tar::EntryType::Symlink | tar::EntryType::Link => return Err(format!("{name:?} is a link")),
            _ => return Err(format!("{name:?} is not a file or a directory")),
        }
        if name.ends_with(".tf") || name.ends_with(".tf.json") || name.ends_with(".tofu") {
            configuration = true;
        }
        sha256_of(&mut entry, &mut budget)?;
    }
    if !configuration {
        return Err("no Terraform configuration (.tf files) in it".into());
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    fn tgz_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            let raw = h.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            if *kind == tar::EntryType::Symlink {
                raw.linkname[..3].copy_from_slice(b"/x/");
            }
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz")
    }

    #[test]
    fn a_provider_zip_and_its_h1() {
        let z = zip_of(&[("terraform-provider-demo_v1.0.0", b"#!/bin/sh\n"), ("LICENSE", b"MIT\n")]);
        let p = provider_zip(Cursor::new(z), "demo").expect("valid");
        assert_eq!(p.executable, "terraform-provider-demo_v1.0.0");
        let expected = hash1(vec![
            ("terraform-provider-demo_v1.0.0".into(), Sha256::digest(b"#!/bin/sh\n").into()),
            ("LICENSE".into(), Sha256::digest(b"MIT\n").into()),
        ])
        .expect("h1");
        assert_eq!(p.h1, expected);
        assert!(p.h1.starts_with("h1:"));
    }

    #[test]
    fn hostile_provider_zips_are_refused() {
        let only_other = zip_of(&[("terraform-provider-other", b"x")]);
        assert!(provider_zip(Cursor::new(only_other), "demo").unwrap_err().contains("no terraform-provider-demo"));
        let nested = zip_of(&[("bin/terraform-provider-demo", b"x")]);
        assert!(provider_zip(Cursor::new(nested), "demo").is_err());
        let traversal = zip_of(&[("terraform-provider-demo", b"x"), ("../evil", b"x")]);
        assert!(provider_zip(Cursor::new(traversal), "demo").unwrap_err().contains("unsafe"));
        assert!(provider_zip(Cursor::new(b"not a zip".to_vec()), "demo").is_err());
    }

    #[test]
    fn bombs_are_refused_at_their_limit() {
        // 8 MiB of zeros compress to a few KiB.
        let zeros = vec![0u8; 8 << 20];
        let z = zip_of(&[("terraform-provider-demo", &zeros[..])]);
        assert!(z.len() < 64 << 10);
        assert!(provider_zip_within(Cursor::new(z.clone()), "demo", 1 << 20).unwrap_err().contains("limit"));
        assert!(provider_zip_within(Cursor::new(z), "demo", 16 << 20).is_ok());
        let t = tgz_of(&[("main.tf", tar::EntryType::Regular, &zeros[..])]);
        assert!(module_tgz_within(Cursor::new(t.clone()), 1 << 20).unwrap_err().contains("limit"));
        assert!(module_tgz_within(Cursor::new(t), 16 << 20).is_ok());
    }

    #[test]
    fn module_archives() {
        use tar::EntryType::{Regular, Symlink};
        assert!(module_tgz(Cursor::new(tgz_of(&[("main.tf", Regular, b"variable \"x\" {}\n")]))).is_ok());
        assert!(module_tgz(Cursor::new(tgz_of(&[("./sub/main.tf.json", Regular, b"{}")]))).is_ok());
        let none = tgz_of(&[("README.md", Regular, b"hi")]);
        assert!(module_tgz(Cursor::new(none)).unwrap_err().contains("no Terraform configuration"));
        let link = tgz_of(&[("main.tf", Regular, b""), ("evil", Symlink, b"")]);
        assert!(module_tgz(Cursor::new(link)).unwrap_err().contains("link"));
        let up = tgz_of(&[("../main.tf", Regular, b"")]);
        assert!(module_tgz(Cursor::new(up)).unwrap_err().contains("unsafe"));
        assert!(module_tgz(Cursor::new(b"plain".to_vec())).is_err());
    }
}
