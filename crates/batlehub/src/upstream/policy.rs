//! Where URLs that come from upstreams may lead (SSRF protection).
//!
//! The URLs of a registry's `upstreams` are the operator's choice and are
//! trusted. URLs an upstream supplies (a packument's tarball URL, a simple
//! page's file link, a cargo `dl` template) and every redirect, of documents
//! and artifacts alike, must stay on the origin (scheme, host and port) of
//! one of the registry's upstreams or of one of its `artifact_hosts`
//! ([`UrlPolicy::check`]). After DNS resolution ([`GuardedResolver`]), and
//! for IP literals, an address that is not public (loopback, private,
//! link-local, unspecified, CGNAT, unique-local, multicast...) is refused
//! unless its host is the host of a configured upstream (the operator chose
//! it) or the registry sets `allow_private_addresses`.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// A URL's origin: scheme, host (lowercase, IPv6 in brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    pub fn of(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// The origin of a configured URL (a cargo `sparse+` prefix is dropped).
    pub fn parse(text: &str) -> Option<Origin> {
        let text = text.strip_prefix("sparse+").unwrap_or(text);
        Url::parse(text).ok().filter(|u| matches!(u.scheme(), "http" | "https")).and_then(|u| Origin::of(&u))
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Why a URL or an address was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// One registry's rule for URLs that come from its upstreams.
#[derive(Debug, Default)]
pub struct UrlPolicy {
    origins: Vec<Origin>,
    /// Hosts of the configured upstreams: whatever they resolve to is fine.
    trusted_hosts: HashSet<String>,
    allow_private: bool,
}

impl UrlPolicy {
    /// The policy of a registry with these `upstreams` and `artifact_hosts`
    /// (origins, as validated by the configuration).
    pub fn new(upstreams: &[String], artifact_hosts: &[String], allow_private: bool) -> UrlPolicy {
        let upstream_origins: Vec<Origin> = upstreams.iter().filter_map(|u| Origin::parse(u)).collect();
        let trusted_hosts = upstream_origins.iter().map(|o| o.host.clone()).collect();
        let mut origins = upstream_origins;
        origins.extend(artifact_hosts.iter().filter_map(|u| Origin::parse(u)));
        UrlPolicy { origins, trusted_hosts, allow_private }
    }

    /// Whether an upstream-supplied `url` may be fetched: http(s), on an
    /// allowed origin, and, for an IP literal, an allowed address (names are
    /// checked after resolution, by [`GuardedResolver`]).
    pub fn check(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!("{} is not an http(s) URL", super::redact(url.as_str()))));
        }
        let Some(origin) = Origin::of(url) else {
            return Err(Refused(format!("{} has no host", super::redact(url.as_str()))));
        };
        if !self.origins.contains(&origin) {
            return Err(Refused(format!(
                "{origin} is neither an upstream's origin nor one of the registry's artifact_hosts"
            )));
        }
        let ip = match url.host() {
            Some(Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(Host::Ipv6(a)) => Some(IpAddr::V6(a)),
            _ => None,
        };
        if let Some(ip) = ip
            && !self.address_allowed(&origin.host, ip)
        {
            return Err(Refused(format!("{ip} is not a public address")));
        }
        Ok(())
    }

    /// Whether `host` may be reached at `ip`.
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> bool {
        self.allow_private || self.trusted_hosts.contains(&host.to_ascii_lowercase()) || is_public(ip)
    }
}

/// Whether `ip` is an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(a),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [first, second, ..] = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || first == 0
        // 100.64.0.0/10, shared address space (carrier-grade NAT).
        || (first == 100 && (second & 0xc0) == 64)
        // 198.18.0.0/15, benchmarking; 240.0.0.0/4, reserved.
        || (first == 198 && (second & 0xfe) == 18)
        || first >= 240)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // 64:ff9b::/96 and friends could embed anything: NAT64 is refused too.
        || first == 0x0064
        // 2001:db8::/32, documentation.
        || (first == 0x2001 && a.segments()[1] == 0x0db8))
}

/// A DNS resolver that drops the addresses a host may not be reached at
/// (see [`UrlPolicy::address_allowed`]), so the check holds after
/// resolution, for every connection and every redirect hop.
pub struct GuardedResolver {
    pub policy: Arc<UrlPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|a| policy.address_allowed(&host, a.ip())).collect();
            if allowed.is_empty() {
                let why = if found.is_empty() {
                    format!("{host} does not resolve")
                } else {
                    format!("{host} resolves only to addresses that are not public")
                };
                return Err(Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The policy's refusal somewhere in `err`'s chain of sources (a redirect
/// refused, an address dropped by the resolver).
pub fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn only_upstream_origins_and_artifact_hosts() {
        let p = UrlPolicy::new(
            &["sparse+https://index.upstream.example/index/".into(), "http://10.1.2.3:8080/simple/".into()],
            &["https://files.upstream.example".into()],
            false,
        );
        assert!(p.check(&url("https://index.upstream.example/dl/a-1.crate")).is_ok());
        assert!(p.check(&url("https://INDEX.upstream.example:443/x")).is_ok());
        assert!(p.check(&url("https://files.upstream.example/packages/a.whl")).is_ok());
        // The configured upstream's own private address is trusted.
        assert!(p.check(&url("http://10.1.2.3:8080/files/a.whl")).is_ok());
        for bad in [
            "http://index.upstream.example/dl/a-1.crate",
            "https://index.upstream.example:8443/x",
            "https://evil.example/x",
            "http://10.1.2.3:9090/x",
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
        ] {
            assert!(p.check(&url(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_addresses_of_other_hosts_are_refused() {
        let p = UrlPolicy::new(&["https://up.example/".into()], &["http://127.0.0.1:9000".into()], false);
        assert!(p.check(&url("http://127.0.0.1:9000/a.tgz")).is_err());
        assert!(!p.address_allowed("files.example", "10.0.0.1".parse().expect("ip")));
        assert!(p.address_allowed("up.example", "10.0.0.1".parse().expect("ip")));
        assert!(p.address_allowed("files.example", "93.184.216.34".parse().expect("ip")));
        let open = UrlPolicy::new(&["https://up.example/".into()], &["http://127.0.0.1:9000".into()], true);
        assert!(open.check(&url("http://127.0.0.1:9000/a.tgz")).is_ok());
    }

    #[test]
    fn public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }
}
