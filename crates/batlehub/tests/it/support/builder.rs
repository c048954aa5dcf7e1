//! Test servers built from typed registries instead of hand-written TOML.

use super::{TestServer, config};

/// One `[[registries]]` entry of a test server.
#[derive(Debug, Clone)]
pub struct Reg {
    kind: String,
    name: String,
    mode: &'static str,
    upstreams: Vec<String>,
    rbac: Option<&'static str>,
    namespaces: Vec<(String, String)>,
    members: Vec<String>,
    allowed: Vec<String>,
    artifact_hosts: Vec<String>,
    allow_private_addresses: bool,
    /// Lines of `[registries.cache]`.
    cache: Vec<String>,
    /// Bodies of `[[registries.rules]]` tables.
    rules: Vec<String>,
}

/// Anonymous callers may read; users may also publish.
pub const OPEN_READ: &str = "anonymous = [\"releases:read\", \"source:read\"]\nuser = [\"releases:read\", \"source:read\", \"releases:write\"]\n";

impl Reg {
    fn new(kind: &str, name: &str, mode: &'static str) -> Reg {
        Reg {
            kind: kind.into(),
            name: name.into(),
            mode,
            upstreams: Vec::new(),
            rbac: None,
            namespaces: Vec::new(),
            members: Vec::new(),
            allowed: Vec::new(),
            artifact_hosts: Vec::new(),
            allow_private_addresses: false,
            cache: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// A private registry of `kind` (default grants: users read and publish).
    pub fn local(kind: &str, name: &str) -> Reg {
        Reg::new(kind, name, "local")
    }

    /// A caching proxy of `upstream`.
    pub fn proxy(kind: &str, name: &str, upstream: &str) -> Reg {
        Reg::new(kind, name, "proxy").upstream(upstream)
    }

    /// Local packages first, `upstream` for the rest.
    pub fn hybrid(kind: &str, name: &str, upstream: &str) -> Reg {
        Reg::new(kind, name, "hybrid").upstream(upstream)
    }

    pub fn upstream(mut self, url: &str) -> Reg {
        self.upstreams.push(url.into());
        self
    }

    /// An origin artifact URLs from the upstreams may lead to.
    pub fn artifact_host(mut self, origin: &str) -> Reg {
        self.artifact_hosts.push(origin.into());
        self
    }

    /// Upstream-supplied URLs may reach loopback and private addresses.
    pub fn allow_private_addresses(mut self) -> Reg {
        self.allow_private_addresses = true;
        self
    }

    /// The `[registries.rbac]` table's body.
    pub fn rbac(mut self, body: &'static str) -> Reg {
        self.rbac = Some(body);
        self
    }

    /// A namespace claim in the configuration: `prefix` belongs to `group`.
    pub fn namespace(mut self, prefix: &str, group: &str) -> Reg {
        self.namespaces.push((prefix.into(), group.into()));
        self
    }

    /// A member whose packages this registry serves first.
    pub fn member(mut self, name: &str) -> Reg {
        self.members.push(name.into());
        self
    }

    /// A name an upstream serves that may be published here anyway.
    pub fn allow_upstream_name(mut self, name: &str) -> Reg {
        self.allowed.push(name.into());
        self
    }

    /// Anonymous callers may read; users may read and publish.
    pub fn open_read(self) -> Reg {
        self.rbac(OPEN_READ)
    }

    /// `[registries.cache] metadata_ttl_secs`.
    pub fn metadata_ttl(self, secs: u64) -> Reg {
        self.cache(&format!("metadata_ttl_secs = {secs}"))
    }

    /// One line of `[registries.cache]` (`keep_latest_versions = 2`).
    pub fn cache(mut self, line: &str) -> Reg {
        self.cache.push(line.to_string());
        self
    }

    /// One `[[registries.rules]]` table (its body: `type = "version"` ...).
    pub fn rule(mut self, body: &str) -> Reg {
        self.rules.push(body.to_string());
        self
    }

    pub fn toml(&self) -> String {
        let list = |v: &[String]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        let mut t = format!("[[registries]]\ntype = {:?}\nname = {:?}\nmode = {:?}\n", self.kind, self.name, self.mode);
        if !self.upstreams.is_empty() {
            t.push_str(&format!("upstreams = [{}]\n", list(&self.upstreams)));
        }
        if !self.members.is_empty() {
            t.push_str(&format!("members = [{}]\n", list(&self.members)));
        }
        if !self.allowed.is_empty() {
            t.push_str(&format!("allow_upstream_names = [{}]\n", list(&self.allowed)));
        }
        if !self.namespaces.is_empty() {
            let claims: Vec<String> =
                self.namespaces.iter().map(|(p, g)| format!("{{ prefix = {p:?}, group = {g:?} }}")).collect();
            t.push_str(&format!("namespaces = [{}]\n", claims.join(", ")));
        }
        if !self.artifact_hosts.is_empty() {
            t.push_str(&format!("artifact_hosts = [{}]\n", list(&self.artifact_hosts)));
        }
        if self.allow_private_addresses {
            t.push_str("allow_private_addresses = true\n");
        }
        if let Some(rbac) = self.rbac {
            t.push_str(&format!("[registries.rbac]\n{rbac}"));
        }
        if !self.cache.is_empty() {
            t.push_str(&format!("[registries.cache]\n{}\n", self.cache.join("\n")));
        }
        for rule in &self.rules {
            t.push_str(&format!("[[registries.rules]]\n{rule}\n"));
        }
        t
    }
}

impl TestServer {
    /// A server with the test identities (see `config`), `registries`, and
    /// `extra` TOML (a `[limits]` section, say).
    pub async fn with(registries: &[Reg], extra: &str) -> TestServer {
        let regs: Vec<String> = registries.iter().map(Reg::toml).collect();
        TestServer::start(&config(&format!("{extra}\n{}", regs.join("\n")))).await
    }
}
