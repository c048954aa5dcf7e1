//! `batlehub go-mod-zip MODULE@VERSION [DIR] -o FILE.zip`: the module zip
//! the go command itself would make of a directory (its `CreateFromDir`
//! rules), ready to `PUT` to a Go registry. The go command has no
//! subcommand for this; the user guide's `go mod zip` does not exist.
//!
//! Left out, as the go command leaves them out: version control folders
//! (`.git`, `.hg`, `.svn`, `.bzr`), subdirectories holding their own
//! `go.mod` (nested modules), files of vendored packages (`vendor/x/...`;
//! files directly in `vendor/`, such as `modules.txt`, stay), and anything
//! that is not a regular file (symlinks are not followed). The result is
//! checked with the same rules the server applies before it is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::modzip;
use super::names::{ModulePath, Version, check_file_path};

pub const USAGE: &str = "MODULE@VERSION [DIR] -o FILE.zip\n\n  MODULE@VERSION  the module path and version (example.com/mymod@v1.0.0)\n  DIR             the directory holding the module's go.mod (default: .)\n  -o FILE.zip     where to write the zip";

struct Args {
    module: ModulePath,
    version: Version,
    dir: PathBuf,
    out: PathBuf,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "--output" => out = Some(PathBuf::from(it.next().ok_or("-o needs a file name")?)),
            s if s.starts_with("-o=") || s.starts_with("--output=") => {
                out = Some(PathBuf::from(s.split_once('=').map(|(_, v)| v).unwrap_or_default()));
            }
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
            s => positional.push(s.to_string()),
        }
    }
    let (spec, dir) = match positional.as_slice() {
        [spec] => (spec.clone(), PathBuf::from(".")),
        [spec, dir] => (spec.clone(), PathBuf::from(dir)),
        _ => return Err("expected MODULE@VERSION and at most one directory".into()),
    };
    let (module, version) = spec.rsplit_once('@').ok_or_else(|| format!("`{spec}` is not MODULE@VERSION"))?;
    let module = ModulePath::parse(module)?;
    let version = Version::parse(version)?;
    version.check_path_major(&module)?;
    Ok(Args { module, version, dir, out: out.ok_or("-o FILE.zip is required")? })
}

/// `vendor/x/y.go` (and `a/vendor/x/y.go`): a file of a vendored package.
fn is_vendored_package(name: &str) -> bool {
    let rest = if let Some(r) = name.strip_prefix("vendor/") {
        r
    } else if let Some(i) = name.find("/vendor/") {
        &name[i + "/vendor/".len()..]
    } else {
        return false;
    };
    rest.contains('/')
}

/// The files of the module in `root`, as `(slash path, file)`, sorted.
pub fn module_files(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry.file_name().into_string().map_err(|n| format!("{n:?}: file name is not UTF-8"))?;
            let slash = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let kind = entry.file_type().map_err(|e| format!("{slash}: {e}"))?;
            if kind.is_dir() {
                if matches!(name.as_str(), ".bzr" | ".git" | ".hg" | ".svn") {
                    continue;
                }
                if entry.path().join("go.mod").is_file() {
                    continue; // a nested module
                }
                stack.push((entry.path(), slash));
            } else if kind.is_file() {
                if is_vendored_package(&slash) {
                    continue;
                }
                check_file_path(&slash)?;
                out.push((slash, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn write_zip(args: &Args) -> Result<u64, String> {
    let files = module_files(&args.dir)?;
    if !files.iter().any(|(n, _)| n == "go.mod") && !args.version.is_incompatible() {
        return Err(format!("{} has no go.mod", args.dir.display()));
    }
    let prefix = format!("{}@{}/", args.module, args.version);
    let tmp = args.out.with_extension("zip.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (name, path) in &files {
        zip.start_file(format!("{prefix}{name}"), opts).map_err(|e| e.to_string())?;
        let mut src = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::copy(&mut src, &mut zip).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut inner = zip.finish().map_err(|e| e.to_string())?;
    inner.flush().map_err(|e| e.to_string())?;
    drop(inner);
    let size = std::fs::metadata(&tmp).map_err(|e| e.to_string())?.len();
    let reader = std::fs::File::open(&tmp).map_err(|e| e.to_string())?;
    if let Err(e) = modzip::check(&args.module, &args.version, std::io::BufReader::new(reader), size) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("the module breaks the module zip rules: {e}"));
    }
    std::fs::rename(&tmp, &args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    Ok(files.len() as u64)
}

/// The tool's entry point.
pub fn run(args: &[String]) -> Result<(), String> {
    let args = parse_args(args)?;
    let n = write_zip(&args)?;
    println!("wrote {} ({n} files of {}@{})", args.out.display(), args.module, args.version);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_out_what_the_go_command_leaves_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let write = |p: &str, data: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, data).expect("write");
        };
        write("go.mod", "module example.com/m\n");
        write("m.go", "package m\n");
        write("sub/s.go", "package sub\n");
        write(".git/config", "x");
        write("nested/go.mod", "module example.com/m/nested\n");
        write("nested/n.go", "package nested\n");
        write("vendor/modules.txt", "# vendored\n");
        write("vendor/example.com/dep/d.go", "package dep\n");
        std::os::unix::fs::symlink(root.join("m.go"), root.join("link.go")).expect("symlink");
        let names: Vec<String> = module_files(root).expect("files").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["go.mod", "m.go", "sub/s.go", "vendor/modules.txt"]);
        let out = root.join("out.zip");
        let args: Vec<String> =
            ["example.com/m@v1.0.0", root.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8")]
                .iter()
                .map(|s| s.to_string())
                .collect();
        run(&args).expect("zip written");
        let size = std::fs::metadata(&out).expect("zip").len();
        let (m, v) = (ModulePath::parse("example.com/m").expect("p"), Version::parse("v1.0.0").expect("v"));
        let checked = modzip::check(&m, &v, std::fs::File::open(&out).expect("open"), size).expect("valid zip");
        assert_eq!(checked.go_mod, b"module example.com/m\n");
        // A version that does not belong to the path is refused before any work.
        let bad: Vec<String> = ["example.com/m@v2.0.0", "-o", "x.zip"].iter().map(|s| s.to_string()).collect();
        assert!(run(&bad).is_err());
        assert!(is_vendored_package("a/vendor/x/y.go") && !is_vendored_package("vendor/modules.txt"));
    }
}
