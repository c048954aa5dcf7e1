//! Module zips: the go command's rules for them (`zip.CheckZip` of the Go
//! project's module code), the `go.mod` inside, and the `h1:` hashes the go
//! command writes in `go.sum`.
//!
//! A zip is checked before anything of it is kept, whether a user published
//! it or an upstream served it: every entry under `{module}@{version}/`,
//! clean relative paths of the characters the go command allows, no two
//! entries whose names fold to the same case, a `go.mod` only at the module
//! root, and the size limits (500 MiB of content, 16 MiB for `go.mod` and
//! `LICENSE`). Entries are read through their declared size only, so a zip
//! bomb (an entry inflating beyond what it declares) is refused too.

use std::collections::HashMap;
use std::io::{Read, Seek};

use sha2::{Digest, Sha256};

use super::gomod;
use super::names::{ModulePath, Version, check_file_path};
use crate::serve::untrusted::hash1;

/// The largest module zip, and the largest total of its files.
pub const MAX_ZIP: u64 = 500 << 20;
/// The largest `go.mod`.
pub const MAX_GO_MOD: u64 = 16 << 20;
/// The largest `LICENSE`.
pub const MAX_LICENSE: u64 = 16 << 20;

/// What a valid module zip holds that BatleHub keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The `go.mod` served as `.mod`: the zip's, or the one the go command
    /// synthesises for a module without one (`+incompatible` versions).
    pub go_mod: Vec<u8>,
    /// `h1:` of the zip's files (the first `go.sum` line).
    pub h1: String,
    /// `h1:` of `go.mod` (the `/go.mod` line of `go.sum`).
    pub go_mod_h1: String,
}

/// Case-insensitive collisions, as the go command finds them: two names
/// folding to the same string, a name both file and directory, a file twice.
#[derive(Default)]
struct Collisions(HashMap<String, (String, bool)>);

impl Collisions {
    fn check(&mut self, name: &str, dir: bool) -> Result<(), String> {
        let fold = name.to_lowercase();
        if let Some((prev, prev_dir)) = self.0.get(&fold) {
            if prev != name {
                return Err(format!("case-insensitive file name collision: `{prev}` and `{name}`"));
            }
            if *prev_dir != dir {
                return Err(format!("entry `{name}` is both a file and a directory"));
            }
            if !dir {
                return Err(format!("multiple entries for file `{name}`"));
            }
            return Ok(());
        }
        self.0.insert(fold, (name.to_string(), dir));
        match name.rsplit_once('/') {
            Some((parent, _)) => self.check(parent, true),
            None => Ok(()),
        }
    }
}

/// `path.Clean(name) == name` for a relative slash path.
fn is_clean(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('/') && name.split('/').all(|e| !e.is_empty() && e != "." && e != "..")
}

/// `h1:` of a `go.mod` (the `go.sum` line ending `/go.mod`).
pub fn go_mod_hash(go_mod: &[u8]) -> String {
    let digest: [u8; 32] = Sha256::digest(go_mod).into();
    hash1(vec![("go.mod".to_string(), digest)]).unwrap_or_default()
}

/// The number of records in the zip's central directory, counted by
/// walking it from the end-of-central-directory record. Zip64 archives
/// (more than 65,535 entries) are refused.
fn central_directory_entries<R: Read + Seek>(reader: &mut R, size: u64) -> Result<u64, String> {
    use std::io::SeekFrom;
    let not_zip = |what: &str| format!("not a zip file: {what}");
    let tail_len = size.min(22 + 65_535);
    if tail_len < 22 {
        return Err(not_zip("too short"));
    }
    let mut tail = vec![0u8; tail_len as usize];
    reader.seek(SeekFrom::Start(size - tail_len)).map_err(|e| e.to_string())?;
    reader.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let eocd = (0..=tail.len() - 22)
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| not_zip("no end of central directory"))?;
    let u16_at = |b: &[u8], i: usize| u64::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
    let declared = u16_at(&tail, eocd + 10);
    let (cd_size, cd_offset) = (u32_at(&tail, eocd + 12), u32_at(&tail, eocd + 16));
    if declared == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff {
        return Err("zip64 archives are not supported (a module holds at most 65,535 files here)".into());
    }
    if cd_offset.checked_add(cd_size).is_none_or(|end| end > size) {
        return Err(not_zip("the central directory lies outside the file"));
    }
    let mut cd = vec![0u8; cd_size as usize];
    reader.seek(SeekFrom::Start(cd_offset)).map_err(|e| e.to_string())?;
    reader.read_exact(&mut cd).map_err(|e| e.to_string())?;
    let (mut at, mut count) = (0usize, 0u64);
    while at + 46 <= cd.len() && cd[at..at + 4] == [0x50, 0x4b, 0x01, 0x02] {
        let lens = u16_at(&cd, at + 28) + u16_at(&cd, at + 30) + u16_at(&cd, at + 32);
        at += 46 + lens as usize;
        count += 1;
    }
    if count != declared {
        return Err(not_zip("the central directory does not hold the entries it declares"));
    }
    reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(count)
}

/// Check a module zip of `module`@`version` and read what is kept of it.
/// `size` is the zip's length (refused above [`MAX_ZIP`]).
pub fn check<R: Read + Seek>(module: &ModulePath, version: &Version, reader: R, size: u64) -> Result<Checked, String> {
    if size > MAX_ZIP {
        return Err(format!("module zip is {size} bytes; the largest allowed is {MAX_ZIP}"));
    }
    version.check_path_major(module)?;
    let mut reader = reader;
    let entries = central_directory_entries(&mut reader, size)?;
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| format!("not a zip file: {e}"))?;
    // The archive reader keeps one entry per name: a name written twice
    // shows up as fewer entries than the central directory holds.
    if entries != archive.len() as u64 {
        return Err("multiple entries for the same file name".into());
    }
    let prefix = format!("{module}@{version}/");
    let mut collisions = Collisions::default();
    let mut total: u64 = 0;
    let mut hashes = Vec::with_capacity(archive.len());
    let mut go_mod = None;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| format!("unreadable zip entry #{i}: {e}"))?;
        let full = std::str::from_utf8(entry.name_raw())
            .map_err(|_| format!("zip entry #{i}: the name is not UTF-8"))?
            .to_string();
        let Some(name) = full.strip_prefix(&prefix) else {
            return Err(format!("zip entry `{full}`: path does not have prefix `{prefix}`"));
        };
        if name.is_empty() {
            continue;
        }
        let dir = name.ends_with('/');
        let name = name.strip_suffix('/').unwrap_or(name);
        if !is_clean(name) || name.contains('\\') {
            return Err(format!("zip entry `{full}`: file path is not clean"));
        }
        check_file_path(name).map_err(|e| format!("zip entry `{full}`: {e}"))?;
        collisions.check(name, dir).map_err(|e| format!("zip entry `{full}`: {e}"))?;
        if dir {
            hashes.push((full, Sha256::digest([]).into()));
            continue;
        }
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.eq_ignore_ascii_case("go.mod") {
            if base != name {
                return Err(format!("zip entry `{full}`: go.mod file not in module root directory"));
            }
            if name != "go.mod" {
                return Err(format!("zip entry `{full}`: go.mod files must be named go.mod, in lower case"));
            }
        }
        let declared = entry.size();
        total = total.saturating_add(declared);
        if total > MAX_ZIP {
            return Err(format!("total uncompressed size of module contents too large (max size is {MAX_ZIP} bytes)"));
        }
        if name == "go.mod" && declared > MAX_GO_MOD {
            return Err(format!("go.mod file too large (max size is {MAX_GO_MOD} bytes)"));
        }
        if name == "LICENSE" && declared > MAX_LICENSE {
            return Err(format!("LICENSE file too large (max size is {MAX_LICENSE} bytes)"));
        }
        // Read no more than the entry declares (plus one byte to notice more).
        let mut hasher = Sha256::new();
        let mut kept = (name == "go.mod").then(Vec::new);
        let mut limited = (&mut entry).take(declared + 1);
        let mut buf = [0u8; 64 * 1024];
        let mut read: u64 = 0;
        loop {
            let n = limited.read(&mut buf).map_err(|e| format!("zip entry `{full}`: {e}"))?;
            if n == 0 {
                break;
            }
            read += n as u64;
            if read > declared {
                return Err(format!("zip entry `{full}` inflates beyond its declared size"));
            }
            hasher.update(&buf[..n]);
            if let Some(k) = kept.as_mut() {
                k.extend_from_slice(&buf[..n]);
            }
        }
        if read != declared {
            return Err(format!("zip entry `{full}` is shorter than its declared size"));
        }
        hashes.push((full, hasher.finalize().into()));
        if let Some(k) = kept {
            go_mod = Some(k);
        }
    }
    let h1 = hash1(hashes)?;
    let go_mod = match go_mod {
        Some(text) => {
            if version.is_incompatible() {
                return Err(format!(
                    "{module}@{version}: +incompatible versions are for modules without a go.mod file; this one has one"
                ));
            }
            let text_str = std::str::from_utf8(&text).map_err(|_| "go.mod is not UTF-8".to_string())?;
            let parsed = gomod::parse(text_str).map_err(|e| format!("go.mod: {e}"))?;
            match parsed.module {
                Some(m) if m == module.as_str() => {}
                Some(m) => {
                    return Err(format!("go.mod declares module `{m}`, but the zip is for `{module}`"));
                }
                None => return Err("go.mod has no module directive".into()),
            }
            text
        }
        None if version.is_incompatible() => format!("module {module}\n").into_bytes(),
        None => return Err(format!("the zip has no {prefix}go.mod")),
    };
    let go_mod_h1 = go_mod_hash(&go_mod);
    Ok(Checked { go_mod, h1, go_mod_h1 })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use std::io::{Cursor, Write};

    use super::*;

    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, opts).expect("dir");
            } else {
                w.start_file(*name, opts).expect("start");
                w.write_all(data).expect("write");
            }
        }
        w.finish().expect("finish").into_inner()
    }

    fn run(path: &str, version: &str, entries: &[(&str, &[u8])]) -> Result<Checked, String> {
        let bytes = build(entries);
        let (m, v) = (ModulePath::parse(path).expect("path"), Version::parse(version).expect("version"));
        check(&m, &v, Cursor::new(&bytes), bytes.len() as u64)
    }

    const GO_MOD: &[u8] = b"module example.com/m\n\ngo 1.21\n";

    #[test]
    fn a_valid_zip_and_its_hashes() {
        let ok = run(
            "example.com/m",
            "v1.0.0",
            &[("example.com/m@v1.0.0/go.mod", GO_MOD), ("example.com/m@v1.0.0/m.go", b"package m\n")],
        )
        .expect("valid");
        assert_eq!(ok.go_mod, GO_MOD);
        // The same lines the go command hashes, written out by hand.
        let line = |data: &[u8], name: &str| format!("{}  {name}\n", hex::encode(Sha256::digest(data)));
        let summary = line(GO_MOD, "example.com/m@v1.0.0/go.mod") + &line(b"package m\n", "example.com/m@v1.0.0/m.go");
        let want = format!("h1:{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(summary.as_bytes())));
        assert_eq!(ok.h1, want);
        let want_mod = format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(line(GO_MOD, "go.mod").as_bytes()))
        );
        assert_eq!(ok.go_mod_h1, want_mod);
    }

    #[test]
    fn hostile_zips_are_refused() {
        let m = "example.com/m@v1.0.0/";
        let gm = (format!("{m}go.mod"), GO_MOD);
        type Case<'a> = (&'a str, Vec<(String, &'a [u8])>, &'a str);
        let cases: Vec<Case> = vec![
            ("wrong prefix", vec![gm.clone(), ("example.com/other@v1.0.0/x.go".into(), b"x")], "prefix"),
            ("traversal", vec![gm.clone(), (format!("{m}../evil.go"), b"x")], "not clean"),
            ("dot element", vec![gm.clone(), (format!("{m}./a.go"), b"x")], "not clean"),
            ("backslash", vec![gm.clone(), (format!("{m}a\\b.go"), b"x")], "not clean"),
            ("case collision", vec![gm.clone(), (format!("{m}A.go"), b"x"), (format!("{m}a.go"), b"y")], "collision"),
            ("nested go.mod", vec![gm.clone(), (format!("{m}sub/go.mod"), GO_MOD)], "root"),
            ("GO.MOD", vec![(format!("{m}GO.MOD"), GO_MOD)], "lower case"),
            ("no go.mod", vec![(format!("{m}a.go"), b"x")], "no example.com/m@v1.0.0/go.mod"),
            ("wrong module", vec![(format!("{m}go.mod"), b"module example.com/other\n")], "declares"),
            ("bad char", vec![gm.clone(), (format!("{m}a:b.go"), b"x")], "invalid char"),
            ("reserved", vec![gm.clone(), (format!("{m}aux.go"), b"x")], "reserved"),
        ];
        for (what, entries, want) in cases {
            let entries: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), *d)).collect();
            let err = run("example.com/m", "v1.0.0", &entries).expect_err(what);
            assert!(err.contains(want), "{what}: {err}");
        }
        // The same name twice (zip writers refuse to write it: renamed in the bytes).
        let mut twice = build(&[(&format!("{m}go.mod"), GO_MOD), (&format!("{m}b.go"), b"x"), (&format!("{m}a.go"), b"y")]);
        let at: Vec<usize> = twice.windows(5).enumerate().filter(|(_, w)| w == b"/a.go").map(|(i, _)| i).collect();
        assert_eq!(at.len(), 2);
        for i in at {
            twice[i + 1] = b'b';
        }
        let (mp, v) = (ModulePath::parse("example.com/m").expect("p"), Version::parse("v1.0.0").expect("v"));
        let err = check(&mp, &v, Cursor::new(&twice), twice.len() as u64).expect_err("duplicate");
        assert!(err.contains("multiple entries"), "{err}");
        // Major versions: a v2 version needs a /v2 path.
        let err = run("example.com/m", "v2.0.0", &[("example.com/m@v2.0.0/go.mod", GO_MOD)]).expect_err("v2");
        assert!(err.contains("/v2"), "{err}");
        // +incompatible: no go.mod, one is synthesised.
        let ok = run("example.com/m", "v2.0.0+incompatible", &[("example.com/m@v2.0.0+incompatible/m.go", b"x")])
            .expect("incompatible");
        assert_eq!(ok.go_mod, b"module example.com/m\n");
        assert!(
            run("example.com/m", "v2.0.0+incompatible", &[("example.com/m@v2.0.0+incompatible/go.mod", GO_MOD)])
                .is_err()
        );
        // Not a zip at all.
        let (mp, v) = (ModulePath::parse("example.com/m").expect("p"), Version::parse("v1.0.0").expect("v"));
        assert!(check(&mp, &v, Cursor::new(b"PK\x03\x04garbage".to_vec()), 13).is_err());
        assert!(check(&mp, &v, Cursor::new(Vec::new()), MAX_ZIP + 1).is_err());
    }

    #[test]
    fn an_entry_inflating_beyond_its_declared_size_is_refused() {
        let big = vec![b'a'; 1 << 20];
        let name = b"example.com/m@v1.0.0/big";
        let mut bytes = build(&[("example.com/m@v1.0.0/go.mod", GO_MOD), ("example.com/m@v1.0.0/big", &big)]);
        // Make both headers of `big` declare 4 bytes: the local header's
        // uncompressed size is 8 bytes before its name, the central
        // directory's 22 bytes before.
        let at: Vec<usize> = bytes.windows(name.len()).enumerate().filter(|(_, w)| *w == name).map(|(i, _)| i).collect();
        assert_eq!(at.len(), 2, "one local and one central header");
        for (pos, back) in [(at[0], 8), (at[1], 22)] {
            bytes[pos - back..pos - back + 4].copy_from_slice(&4u32.to_le_bytes());
        }
        let (mp, v) = (ModulePath::parse("example.com/m").expect("p"), Version::parse("v1.0.0").expect("v"));
        let len = bytes.len() as u64;
        let err = check(&mp, &v, Cursor::new(&bytes), len).expect_err("a bomb");
        assert!(err.contains("big"), "{err}");
    }
}
