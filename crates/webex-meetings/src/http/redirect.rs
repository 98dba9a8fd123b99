//! The cloud's redirects, which it sends instead of HTTP 3xx (every Webex
//! request carries `cisco-no-http-redirect: true`): a `cisco-location`
//! response header (the official SDK follows up to 10), and a Locus answer
//! `{"errorCode": 2000002, "location": …}` (up to 5; joins ask for this
//! style with `alternateRedirect=true`). The same request is sent again to
//! the new URL, which must itself be a trusted host to get the token.

use url::Url;

/// Most `cisco-location` hops one request follows.
pub(crate) const MAX_HEADER_HOPS: u32 = 10;
/// Most Locus `2000002` hops one request follows.
pub(crate) const MAX_LOCUS_HOPS: u32 = 5;
/// The Locus error code meaning "this Locus lives elsewhere".
pub(crate) const LOCUS_REDIRECT: u64 = 2_000_002;

/// How an answer redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Redirect {
    /// A `cisco-location` header.
    Header(Url),
    /// A Locus `errorCode: 2000002` body with `location`.
    Locus(Url),
}

/// Where the answer to a request to `from` redirects, if it does: a
/// `cisco-location` header, or a Locus `2000002` body. A relative location
/// is resolved against `from`; one that is not a URL is no redirect.
pub(crate) fn target(from: &Url, header: Option<&str>, body: &[u8]) -> Option<Redirect> {
    if let Some(location) = header.map(str::trim).filter(|l| !l.is_empty()) {
        return from.join(location).ok().map(Redirect::Header);
    }
    // Only a JSON object can be a Locus redirect; skip parsing anything else.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get("errorCode")?;
    let is_redirect = code.as_u64() == Some(LOCUS_REDIRECT)
        || code.as_str().and_then(|s| s.parse().ok()) == Some(LOCUS_REDIRECT);
    if !is_redirect {
        return None;
    }
    let location = value.get("location")?.as_str()?;
    from.join(location).ok().map(Redirect::Locus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_both_redirect_styles() {
        let from = url("https://locus-a.wbx2.com/locus/api/v1/loci/call?alternateRedirect=true");
        assert_eq!(
            target(
                &from,
                Some("https://locus-b.wbx2.com/locus/api/v1/loci/call"),
                b""
            ),
            Some(Redirect::Header(url(
                "https://locus-b.wbx2.com/locus/api/v1/loci/call"
            )))
        );
        let body = br#"{"errorCode":2000002,"location":"https://locus-b.wbx2.com/locus/api/v1/loci/call"}"#;
        assert_eq!(
            target(&from, None, body),
            Some(Redirect::Locus(url(
                "https://locus-b.wbx2.com/locus/api/v1/loci/call"
            )))
        );
        assert_eq!(target(&from, None, br#"{"errorCode":2404001}"#), None);
        assert_eq!(target(&from, None, br#"{"errorCode":2000002}"#), None);
        assert_eq!(target(&from, None, b""), None);
        assert!(
            target(
                &from,
                None,
                b" \n{\"errorCode\":\"2000002\",\"location\":\"/x\"}"
            )
            .is_some()
        );
    }
}
