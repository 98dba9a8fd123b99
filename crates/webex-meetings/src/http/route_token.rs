//! `X-Cisco-Part-Route-Token`: Locus may answer a request about one Locus
//! with this header; every later request to that Locus echoes the last
//! value, so the cloud routes it to the node that holds the participant.
//! As in the official SDK, the Locus is the id in the request URL
//! (`…/locus/api/v1/loci/<uuid>…`); requests without one neither record nor
//! send a token.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use reqwest::header::HeaderValue;
use url::Url;

/// The header, as Locus spells it.
pub(crate) const HEADER: &str = "X-Cisco-Part-Route-Token";

/// The last route token of each Locus, by Locus id.
#[derive(Default)]
pub(crate) struct RouteTokens {
    by_locus: Mutex<HashMap<String, HeaderValue>>,
}

impl RouteTokens {
    /// The token to send with a request to `url`, if its Locus gave one.
    pub(crate) fn for_url(&self, url: &Url) -> Option<HeaderValue> {
        let id = locus_id(url)?;
        self.by_locus
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Records the token an answer to a request to `url` carried.
    pub(crate) fn record(&self, url: &Url, token: Option<&HeaderValue>) {
        if let (Some(id), Some(token)) = (locus_id(url), token) {
            self.by_locus
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, token.clone());
        }
    }
}

/// The Locus id in `url`'s path: the 36 hex digits and dashes after
/// `/locus/api/v1/loci/`, lowercased.
pub(crate) fn locus_id(url: &Url) -> Option<String> {
    const PREFIX: &str = "/locus/api/v1/loci/";
    let path = url.path();
    let at = path.to_ascii_lowercase().find(PREFIX)? + PREFIX.len();
    let id = path.get(at..at + 36)?;
    id.chars()
        .all(|c| c.is_ascii_hexdigit() || c == '-')
        .then(|| id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tokens_follow_the_locus_id_of_the_url() {
        let id = "0f1eba56-91e2-2a11-9b2b-1e2da077f066";
        let tokens = RouteTokens::default();
        let join = url(&format!("https://l/locus/api/v1/loci/{id}/participant"));
        tokens.record(&join, Some(&HeaderValue::from_static("t1")));
        let leave = url(&format!(
            "https://l/locus/api/v1/loci/{id}/participant/p/leave"
        ));
        assert_eq!(tokens.for_url(&leave), Some(HeaderValue::from_static("t1")));
        assert_eq!(
            tokens.for_url(&url("https://l/locus/api/v1/loci/call")),
            None
        );
        tokens.record(
            &url("https://l/locus/api/v1/loci/call"),
            Some(&HeaderValue::from_static("t2")),
        );
        assert_eq!(tokens.for_url(&leave), Some(HeaderValue::from_static("t1")));
        assert_eq!(locus_id(&url("https://l/locus/api/v1/loci/short")), None);
    }
}
