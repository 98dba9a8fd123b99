//! Cloud quirks: the answers Webex's cloud sends that cost a client a
//! round trip, served only when the operator asks for them (`webex serve
//! --cloud-quirks …`), so that clients can be tested against them.
//!
//! - **`locus-redirect`**: a join (`POST {locus}/loci/call` or
//!   `POST {locusUrl}/participant`) that asks for the cloud's redirect style
//!   with `alternateRedirect=true` is answered
//!   `404 {"errorCode": 2000002, "location": <the same URL>}` (the
//!   server's error body with `location`) once; the
//!   official SDK re-sends the same request there (up to 5 hops).
//! - **`cisco-location`**: a request carrying `cisco-no-http-redirect: true`
//!   (both SDKs send it on every request but the token's) is answered
//!   `200` with an empty body and a `cisco-location` header naming the same
//!   URL once; the official SDK re-sends the request there (up to 10 hops).
//!
//! Both are stateless: the URL a client is sent to carries a marker query
//! parameter (one per quirk), a request carrying it is never redirected by
//! that quirk again, and the marker is removed before the request reaches
//! its handler. A client following the redirect therefore reaches the real
//! handler after at most one hop per quirk; nothing is stored.
//!
//! Operator routes (`/admin/…`), CORS preflights and websocket upgrades
//! are never redirected.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::MatchedRoute;
use crate::state::AppState;

/// The query parameter marking a request that followed a `cisco-location`.
pub const LOCATED_MARKER: &str = "cloudQuirkLocated";
/// The query parameter marking a request that followed a Locus `2000002`.
pub const REDIRECTED_MARKER: &str = "cloudQuirkRedirected";
/// The Locus error code of a cluster redirect.
pub const LOCUS_REDIRECT_CODE: u32 = 2_000_002;
/// The response header of the cloud's application-level redirect.
pub const CISCO_LOCATION: &str = "cisco-location";
/// The request header asking for `cisco-location` instead of a 3xx.
pub const NO_HTTP_REDIRECT: &str = "cisco-no-http-redirect";

/// One answer shape of [`CloudQuirks`], as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudQuirk {
    /// Joins asking `alternateRedirect=true` get one Locus `2000002` redirect.
    LocusRedirect,
    /// Requests with `cisco-no-http-redirect: true` get one `cisco-location`.
    CiscoLocation,
}

/// Which round-trip-costing answers the server gives. None by default.
///
/// ```
/// use webex_server::quirks::{CloudQuirk, CloudQuirks};
/// assert!(!CloudQuirks::default().any());
/// let q = CloudQuirks::from_iter([CloudQuirk::CiscoLocation]);
/// assert!(q.cisco_location && !q.locus_redirect);
/// assert_eq!(CloudQuirks::all().names(), ["locus-redirect", "cisco-location"]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloudQuirks {
    /// See [`CloudQuirk::LocusRedirect`].
    pub locus_redirect: bool,
    /// See [`CloudQuirk::CiscoLocation`].
    pub cisco_location: bool,
}

impl CloudQuirks {
    /// Every quirk on.
    pub const fn all() -> Self {
        Self {
            locus_redirect: true,
            cisco_location: true,
        }
    }

    /// Whether any quirk is on.
    pub const fn any(&self) -> bool {
        self.locus_redirect || self.cisco_location
    }

    /// The names of the quirks that are on (for logs).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.locus_redirect {
            names.push("locus-redirect");
        }
        if self.cisco_location {
            names.push("cisco-location");
        }
        names
    }
}

impl FromIterator<CloudQuirk> for CloudQuirks {
    fn from_iter<I: IntoIterator<Item = CloudQuirk>>(iter: I) -> Self {
        let mut q = Self::default();
        for quirk in iter {
            match quirk {
                CloudQuirk::LocusRedirect => q.locus_redirect = true,
                CloudQuirk::CiscoLocation => q.cisco_location = true,
            }
        }
        q
    }
}

/// The middleware: answers with a quirk when one applies, otherwise passes
/// the request on with the markers removed.
pub async fn apply(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let quirks = state.config.cloud_quirks;
    if !quirks.any() || !eligible(&req, drain_limit(&state)) {
        return next.run(req).await;
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let located = has_param(&query, LOCATED_MARKER);
    let redirected = has_param(&query, REDIRECTED_MARKER);
    let path = req.uri().path().to_owned();

    if quirks.cisco_location && !located && asks_cisco_location(&req) {
        drain(&state, req).await;
        let target = same_url(&state, &path, &query, LOCATED_MARKER);
        let mut res = match HeaderValue::from_str(&target) {
            Ok(v) => {
                let mut res = StatusCode::OK.into_response();
                res.headers_mut().insert(CISCO_LOCATION, v);
                res
            }
            Err(e) => ApiError::internal(e).into_response(),
        };
        res.extensions_mut()
            .insert(MatchedRoute("quirk:cisco-location".to_owned()));
        return res;
    }
    if quirks.locus_redirect
        && !redirected
        && req.method() == Method::POST
        && is_join(&path)
        && has_param(&query, "alternateRedirect=true")
    {
        let target = same_url(&state, &path, &query, REDIRECTED_MARKER);
        drain(&state, req).await;
        let mut res = ApiError::not_found(
            "This Locus is served at another URL: send the same request to `location`",
        )
        .with_error_code(LOCUS_REDIRECT_CODE)
        .with_location(target)
        .into_response();
        res.extensions_mut()
            .insert(MatchedRoute("quirk:locus-redirect".to_owned()));
        return res;
    }
    if located || redirected {
        strip_markers(&mut req, &query);
    }
    next.run(req).await
}

/// Reads the request's body (at most [`UNAUTHENTICATED_BODY_LIMIT`] bytes,
/// within the body deadline) before a quirk answers: a body left unread
/// makes hyper close the connection after the answer, and a client that
/// sends its next request on that kept-alive connection meanwhile sees
/// "socket hang up". The bytes are dropped: the client sends them again.
///
/// [`UNAUTHENTICATED_BODY_LIMIT`]: crate::body_auth::UNAUTHENTICATED_BODY_LIMIT
async fn drain(state: &AppState, req: Request) {
    let read = axum::body::to_bytes(req.into_body(), drain_limit(state));
    let deadline = state.config.connections.body_read_timeout;
    if !matches!(tokio::time::timeout(deadline, read).await, Ok(Ok(_))) {
        tracing::debug!("cloud quirk: request body not read whole; the connection closes");
    }
}

/// Whether a quirk may answer `req`: not a preflight, an upgrade or the
/// admin API, and a body the quirk can read whole before answering
/// (`Content-Length` within [`drain`]'s limit, or no body). A larger body
/// (a client-log upload) passes untouched: answering before reading it
/// closes the connection under a client still sending, which it sees as a
/// reset, not as the hop.
fn eligible(req: &Request, drain_limit: usize) -> bool {
    let small_body = match req.headers().get(header::CONTENT_LENGTH) {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .is_some_and(|n| n <= drain_limit),
        None => !req.headers().contains_key(header::TRANSFER_ENCODING),
    };
    req.method() != Method::OPTIONS
        && !req.headers().contains_key(header::UPGRADE)
        && !req.uri().path().starts_with("/admin/")
        && small_body
}

/// The most [`drain`] reads.
fn drain_limit(state: &AppState) -> usize {
    crate::body_auth::UNAUTHENTICATED_BODY_LIMIT.min(state.config.body_limit)
}

fn asks_cisco_location(req: &Request) -> bool {
    req.headers()
        .get(NO_HTTP_REDIRECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `POST {locus}/loci/call` or `POST {locus}/loci/<id>/participant`.
fn is_join(path: &str) -> bool {
    let Some(rest) = path.strip_prefix(crate::locus::LOCI_PATH) else {
        return false;
    };
    if rest == "/call" {
        return true;
    }
    rest.strip_prefix('/')
        .and_then(|r| r.strip_suffix("/participant"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Whether the query has the parameter `name` (any value) or exactly the
/// pair `name` when it holds a `=`.
fn has_param(query: &str, name: &str) -> bool {
    query.split('&').any(|pair| {
        if name.contains('=') {
            pair.eq_ignore_ascii_case(name)
        } else {
            pair.split('=').next() == Some(name)
        }
    })
}

/// The URL of this request as its client sees it, with `marker=1` added.
fn same_url(state: &AppState, path: &str, query: &str, marker: &str) -> String {
    let sep = if query.is_empty() { "" } else { "&" };
    format!("{}{path}?{query}{sep}{marker}=1", state.public_url)
}

/// The query of a request that followed a quirk, without the markers,
/// other pairs kept byte for byte. The official SDK's browser build
/// re-sends a followed URL with its query parameters (`qs`) appended again
/// after a second `?`: that `?` separates pairs here, and a pair repeated
/// exactly is kept once, so the handler sees the query the client meant.
fn without_markers(query: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split(['&', '?']) {
        let name = pair.split('=').next().unwrap_or("");
        if pair.is_empty() || name == LOCATED_MARKER || name == REDIRECTED_MARKER {
            continue;
        }
        if !kept.contains(&pair) {
            kept.push(pair);
        }
    }
    kept.join("&")
}

fn strip_markers(req: &mut Request, query: &str) {
    let rest = without_markers(query);
    let path = req.uri().path();
    let pq = if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{rest}")
    };
    let mut parts = req.uri().clone().into_parts();
    match pq.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(e) => {
            tracing::warn!(error = %e, "could not strip the cloud-quirk markers");
            return;
        }
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_are_recognised() {
        assert!(is_join("/locus/api/v1/loci/call"));
        assert!(is_join("/locus/api/v1/loci/abc-1/participant"));
        assert!(!is_join("/locus/api/v1/loci/abc/participant/p/leave"));
        assert!(!is_join("/locus/api/v1/loci/abc/end"));
        assert!(!is_join("/locus/api/v1/loci//participant"));
    }

    #[test]
    fn markers_are_found_and_removed_leaving_the_rest_as_is() {
        let q = "alternateRedirect=true&cloudQuirkLocated=1&x=a%20b";
        assert!(has_param(q, LOCATED_MARKER));
        assert!(!has_param(q, REDIRECTED_MARKER));
        assert!(has_param(q, "alternateRedirect=true"));
        assert!(!has_param(
            "alternateRedirect=false",
            "alternateRedirect=true"
        ));
        assert_eq!(without_markers(q), "alternateRedirect=true&x=a%20b");
        assert_eq!(without_markers("cloudQuirkRedirected=1"), "");
        // What the official SDK's browser build sends after a hop.
        assert_eq!(
            without_markers("orgId=o&format=hostmap&cloudQuirkLocated=1?orgId=o&format=hostmap"),
            "orgId=o&format=hostmap"
        );
    }
}
