//! One way to run a real client (npm, pnpm, yarn, cargo, pip, uv, twine,
//! poetry, node) as a child process: in a temporary folder of its own for its
//! home and caches, with a base environment, killed when dropped, and a
//! timeout that fails the test naming the command.
//!
//! Each client family's test file keeps its own setup (which variables, which
//! folders) as a small constructor that configures a [`Runner`].

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A sandbox folder, a base environment and a timeout for client runs. The
/// child inherits this process's environment, minus the removed variables,
/// plus the set ones.
pub struct Runner {
    dir: tempfile::TempDir,
    env: Vec<(OsString, OsString)>,
    remove: Vec<OsString>,
    timeout: Duration,
}

/// What a client run left: its status and both streams.
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout and stderr, for messages and for searching either.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Runner {
    /// An empty sandbox and environment; each run is limited to `timeout`.
    pub fn new(timeout: Duration) -> Runner {
        Runner { dir: tempfile::tempdir().expect("sandbox dir"), env: Vec::new(), remove: Vec::new(), timeout }
    }

    /// The sandbox folder itself.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` inside the sandbox.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Set `key` for every run.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Runner {
        self.env.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Set `key` to the sandbox path `rel` for every run.
    pub fn env_path(self, key: impl AsRef<OsStr>, rel: &str) -> Runner {
        let value = self.path(rel);
        self.env(key, value)
    }

    /// Remove `key` (inherited from this process) for every run.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Runner {
        self.remove.push(key.as_ref().to_owned());
        self
    }

    /// Create folders (and their parents) inside the sandbox.
    pub fn dirs(self, rels: &[&str]) -> Runner {
        for rel in rels {
            std::fs::create_dir_all(self.path(rel)).unwrap_or_else(|e| panic!("mkdir {rel}: {e}"));
        }
        self
    }

    /// Write a file inside the sandbox (its folder must exist).
    pub fn file(self, rel: &str, contents: impl AsRef<[u8]>) -> Runner {
        std::fs::write(self.path(rel), contents).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        self
    }

    /// Run `program args` in `cwd` with the base environment.
    pub async fn run(&self, program: &Path, args: &[&str], cwd: &Path) -> Output {
        self.run_with(program, args, cwd, &[]).await
    }

    /// Run `program args` in `cwd` with the base environment plus `extra`
    /// (set last, so it wins).
    pub async fn run_with(&self, program: &Path, args: &[&str], cwd: &Path, extra: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).current_dir(cwd).kill_on_drop(true);
        for key in &self.remove {
            cmd.env_remove(key);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        for (key, value) in extra {
            cmd.env(key, value);
        }
        let out = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("{} {args:?} timed out", program.display()))
            .unwrap_or_else(|e| panic!("{} {args:?} did not start: {e}", program.display()));
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// [`Runner::run`] that must succeed (else both streams are shown); its stdout.
    pub async fn ok(&self, program: &Path, args: &[&str], cwd: &Path) -> String {
        self.ok_with(program, args, cwd, &[]).await
    }

    /// [`Runner::run_with`] that must succeed (else both streams are shown); its stdout.
    pub async fn ok_with(&self, program: &Path, args: &[&str], cwd: &Path, extra: &[(&str, &str)]) -> String {
        let out = self.run_with(program, args, cwd, extra).await;
        assert!(out.ok, "{} {args:?} failed:\n{}", program.display(), out.text());
        out.stdout
    }
}
