//! Which hosts get the bearer token: the hosts the service catalog names
//! (its `serviceLinks` and `hostCatalog`), the configured discovery, API
//! and token hosts, and the allowed domains (Webex's own, as the official
//! SDK lists them, and their subdomains). Any other URL an answer names —
//! a `locusUrl`, a `remoteLocusClusterUrls` entry, a redirect — is refused
//! before the request leaves (`webex-protocol.md` §2.4).

use std::collections::BTreeSet;

use url::Url;

/// The domains the official SDK sends the token to besides the catalog's
/// hosts (webex-core `services/constants.js`).
pub(crate) const DEFAULT_ALLOWED_DOMAINS: &[&str] = &[
    "wbx2.com",
    "ciscospark.com",
    "webex.com",
    "webexapis.com",
    "broadcloudpbx.com",
    "broadcloud.eu",
    "broadcloud.com.au",
    "broadcloudpbx.net",
];

/// `url`'s host, lowercased, without port; `None` for a URL without one.
pub(crate) fn host_of(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
}

/// A `hostCatalog` key (`host[:port]`) as a host.
pub(crate) fn catalog_key_host(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    match key.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => {
            host.to_owned()
        }
        _ => key,
    }
}

/// Whether `host` is one of `hosts`, or `domain` or one of its subdomains
/// for an allowed `domain`. The official SDK matches a domain anywhere in
/// the host (`webex.com.example.net` would pass); only a suffix at a label
/// boundary does here.
pub(crate) fn allowed(host: &str, hosts: &BTreeSet<String>, domains: &[&str]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    hosts.contains(&host)
        || domains
            .iter()
            .any(|d| host == *d || host.strip_suffix(d).is_some_and(|rest| rest.ends_with('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_hosts_and_allowed_subdomains_only() {
        let hosts: BTreeSet<String> = ["127.0.0.1".to_owned()].into();
        let ok = |h: &str| allowed(h, &hosts, DEFAULT_ALLOWED_DOMAINS);
        assert!(ok("127.0.0.1"));
        assert!(ok("locus-a.wbx2.com"));
        assert!(ok("WEBEX.COM"));
        assert!(!ok("localhost"));
        assert!(!ok("webex.com.example.net"));
        assert!(!ok("evilwebex.com"));
        assert_eq!(catalog_key_host("wdm-a.wbx2.com:443"), "wdm-a.wbx2.com");
        assert_eq!(
            host_of("http://LocalHost:8080/x").as_deref(),
            Some("localhost")
        );
    }
}
