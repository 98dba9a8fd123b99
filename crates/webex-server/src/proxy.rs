//! Trusted reverse proxies: behind one, every connection comes from the
//! proxy, and the client's address is in the `X-Forwarded-For` header the
//! proxy adds. The server takes that header only from the proxies it is
//! told to trust (`webex serve --trusted-proxy CIDR`), so that a client
//! cannot name another address to dodge its rate limits; the per-address
//! caps and limits, the admin lockout and the logs then see the client.
//!
//! The client is the right-most address in `X-Forwarded-For` that is not a
//! trusted proxy itself (every proxy appends the address it got the
//! request from, so entries left of it may be whatever the client sent).

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed. Empty by default: the
/// header is ignored.
///
/// ```
/// use webex_server::proxy::TrustedProxies;
/// let proxies = TrustedProxies::new(["10.0.0.0/8".parse().unwrap()]);
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-forwarded-for", "198.51.100.7, 10.1.2.3".parse().unwrap());
/// // From the proxy: the client it names.
/// assert_eq!(proxies.client("10.0.0.1".parse().unwrap(), &headers).to_string(), "198.51.100.7");
/// // From anyone else: the header is not believed.
/// assert_eq!(proxies.client("203.0.113.9".parse().unwrap(), &headers).to_string(), "203.0.113.9");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Trusts the proxies in `nets`.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self(nets.into_iter().collect())
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer`: `peer` itself unless
    /// it is a trusted proxy, else the right-most `X-Forwarded-For` address
    /// that is not a trusted proxy (or `peer` when the header is missing or
    /// unreadable there).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        // Several header lines are one list, in order.
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in entries.iter().rev() {
            let Some(ip) = parse_entry(entry) else {
                // Garbage from here on left is the client's own writing.
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an IP address, an IPv6 one possibly in
/// brackets, either possibly with a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse() {
        return Some(ip);
    }
    if let Some(rest) = e.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    // IPv4 with a port.
    e.rsplit_once(':')
        .filter(|(host, _)| !host.contains(':'))
        .and_then(|(host, _)| host.parse().ok())
}

/// Parses a `--trusted-proxy` value: a CIDR range or a single address.
///
/// ```
/// use webex_server::proxy::parse_net;
/// assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
/// assert_eq!(parse_net("192.0.2.1").unwrap().to_string(), "192.0.2.1/32");
/// assert!(parse_net("proxy.example").is_err());
/// ```
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{t}` is neither an IP address nor a CIDR range (e.g. 10.0.0.0/8)"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_address() {
        let p = TrustedProxies::new(["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // A client that wrote its own header cannot choose its address.
        let h = headers(&["1.1.1.1, 198.51.100.7", "10.0.0.9"]);
        assert_eq!(p.client(peer, &h).to_string(), "198.51.100.7");
        // Ports and brackets.
        let h = headers(&["[2001:db8::5]:4711"]);
        assert_eq!(p.client(peer, &h).to_string(), "2001:db8::5");
        let h = headers(&["198.51.100.7:5060"]);
        assert_eq!(p.client(peer, &h).to_string(), "198.51.100.7");
        // Garbage stops the walk at the last good address.
        let h = headers(&["nonsense, 10.0.0.7"]);
        assert_eq!(p.client(peer, &h).to_string(), "10.0.0.7");
        // No header: the proxy itself.
        assert_eq!(p.client(peer, &HeaderMap::new()), peer);
        // IPv4-mapped IPv6 peers are matched as IPv4.
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert_eq!(
            p.client(mapped, &headers(&["198.51.100.8"])).to_string(),
            "198.51.100.8"
        );
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let p = TrustedProxies::default();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(p.client(peer, &headers(&["198.51.100.7"])), peer);
        assert!(p.is_empty());
    }
}
