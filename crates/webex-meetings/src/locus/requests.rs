//! The Locus HTTP calls, each bounded by a deadline and mapped to a
//! [`MeetingError`]: `GET {locus}/loci`, `GET {locusUrl}`,
//! `POST {webex-appapi-service}/meetingInfo`, joins, leave and end.

use std::future::Future;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;
use webex_wire::locus::{
    ControlsRequest, JoinRequest, JoinResponse, LeaveRequest, LociList, Locus, LocusResponse,
    MeetingInfo, MeetingInfoRequest,
};

use super::error::{MeetingError, from_response};
use crate::error::Error;
use crate::http::{Http, HttpRequest, join};

/// Runs `fut` within `limit`, naming `operation` when it does not finish.
pub(crate) async fn bounded<T>(
    operation: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, MeetingError>>,
) -> Result<T, MeetingError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(MeetingError::Timeout {
            operation,
            after: limit,
        }))
}

/// Sends `req`; maps error answers (naming `what` for a 404) and decodes
/// the 2xx body, a body that does not decode being a malformed document.
async fn call<T: DeserializeOwned>(
    http: &Http,
    req: HttpRequest,
    what: &str,
) -> Result<T, MeetingError> {
    let response = http.send_any(&req).await?;
    if response.status >= 400 {
        return Err(from_response(response, what));
    }
    response.json().map_err(|e| match e {
        Error::InvalidResponse { url, message } => MeetingError::MalformedLocus {
            locus_url: url,
            message,
        },
        other => MeetingError::Request(other),
    })
}

fn parse(url: &str) -> Result<Url, MeetingError> {
    Url::parse(url).map_err(|e| MeetingError::MalformedLocus {
        locus_url: url.to_owned(),
        message: format!("not a URL: {e}"),
    })
}

/// `?alternateRedirect=true`, as the official client sends on joins.
fn with_redirect_flag(mut url: Url) -> Url {
    url.query_pairs_mut()
        .append_pair("alternateRedirect", "true");
    url
}

/// `GET {locus}/loci`, then each `remoteLocusClusterUrls` entry; all the
/// Loci together.
pub(crate) async fn list_loci(http: &Http, locus_base: &str) -> Result<Vec<Locus>, MeetingError> {
    let url = join(locus_base, "loci")?;
    let first: LociList = call(http, HttpRequest::get(url), locus_base).await?;
    let mut loci = first.loci;
    for remote in first.remote_locus_cluster_urls.iter().take(16) {
        let more: LociList = call(http, HttpRequest::get(parse(remote)?), remote).await?;
        loci.extend(more.loci);
    }
    Ok(loci)
}

/// `GET {locusUrl}`: the full document.
pub(crate) async fn get_locus(http: &Http, locus_url: &str) -> Result<Locus, MeetingError> {
    call(http, HttpRequest::get(parse(locus_url)?), locus_url).await
}

/// How many appapi site redirects (`404` + `code: 404100`) one
/// `meetingInfo` follows.
pub(crate) const MAX_SITE_HOPS: usize = 2;

/// The appapi's "this meeting lives on a Webex site" answer.
const SITE_REDIRECT_CODE: u64 = 404_100;

/// SIP hosts the official SDK never asks directly (its `utilv2.ts`).
const NOT_SITES: &[&str] = &["meet.webex.com", "meetup.webex.com", "ciscospark.com"];

/// `https://<site>/wbxappapi/v1/meetingInfo` for a site given as a host
/// or as a URL (a URL whose path already names `meetingInfo` is kept).
fn site_meeting_info(site: &str) -> Option<Url> {
    let site = site.trim();
    if site.is_empty() {
        return None;
    }
    if site.starts_with("https://") || site.starts_with("http://") {
        let url = Url::parse(site).ok()?;
        if url.path().ends_with("/meetingInfo") {
            return Some(url);
        }
        return url.join("/wbxappapi/v1/meetingInfo").ok();
    }
    let host = site.trim_end_matches('/');
    if host.contains(['/', '?', '#', '@']) {
        return None;
    }
    Url::parse(&format!("https://{host}/wbxappapi/v1/meetingInfo")).ok()
}

/// The direct site `meetingInfo` URL for a SIP destination whose host has
/// exactly three labels (`room@acme.webex.com` → `https://acme.webex.com/…`),
/// as the official SDK builds it; `None` for any other destination.
pub(crate) fn direct_site(sip_url: Option<&str>) -> Option<Url> {
    let (_, host) = sip_url?.rsplit_once('@')?;
    let host = host.trim().to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() != 3
        || labels.iter().any(|l| l.is_empty())
        || NOT_SITES.contains(&host.as_str())
    {
        return None;
    }
    site_meeting_info(&host)
}

/// The site a `404` names with `code: 404100` (`siteUrl` or `webExSite`,
/// at the top level or under `data`), as a `meetingInfo` URL.
fn site_redirect(status: u16, body: &[u8]) -> Option<Url> {
    if status != 404 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = v.get("code").and_then(|c| {
        c.as_u64()
            .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
    })?;
    if code != SITE_REDIRECT_CODE {
        return None;
    }
    let field = |o: &serde_json::Value| {
        ["siteUrl", "webExSite", "siteURL"]
            .iter()
            .find_map(|k| o.get(*k).and_then(|s| s.as_str()).map(str::to_owned))
    };
    let site = field(&v).or_else(|| v.get("data").and_then(field))?;
    site_meeting_info(&site)
}

/// `meetingInfo` at `url`, with the bearer token only when its host is
/// trusted (the catalog's hosts and the allowed domains).
fn info_request(http: &Http, url: Url, body: &serde_json::Value) -> HttpRequest {
    let trusted = http.services.trusts(&url);
    let req = HttpRequest::new(Method::POST, url).json(body.clone());
    if trusted {
        req
    } else {
        tracing::warn!(url = %crate::http::strip_query(&req.url), "meetingInfo at a site outside the catalog and the allowed domains: sent without the access token");
        req.without_auth()
    }
}

/// `POST {appapi}/meetingInfo`; `Ok(None)` when the server hosts no such
/// meeting (404).
///
/// Like the official SDK, a SIP destination whose host has three labels is
/// asked at that site directly (`https://<host>/wbxappapi/v1/meetingInfo`)
/// — here only when the host is trusted, and a site that cannot be reached
/// falls back to the appapi. An appapi answer `404` with `code: 404100`
/// names the Webex site that hosts the meeting: the request is sent there,
/// up to [`MAX_SITE_HOPS`] times, with the token only for a trusted site.
pub(crate) async fn meeting_info(
    http: &Http,
    appapi: &str,
    body: &MeetingInfoRequest,
    destination: &str,
) -> Result<Option<MeetingInfo>, MeetingError> {
    let json = to_json(body)?;
    let appapi_url = join(appapi, "meetingInfo")?;
    let direct = direct_site(body.sip_url.as_deref()).filter(|u| http.services.trusts(u));
    let mut response = None;
    if let Some(url) = direct {
        match http.send_any(&info_request(http, url, &json)).await {
            Ok(r) => response = Some(r),
            Err(e) => {
                tracing::info!(error = %e, destination, "direct site meetingInfo failed; asking the appapi");
            }
        }
    }
    let mut response = match response {
        Some(r) => r,
        None => {
            http.send_any(&HttpRequest::new(Method::POST, appapi_url).json(json.clone()))
                .await?
        }
    };
    let mut hops = 0;
    while let Some(site) = site_redirect(response.status, &response.body) {
        hops += 1;
        if hops > MAX_SITE_HOPS {
            tracing::warn!(destination, "meetingInfo: too many site redirects");
            break;
        }
        tracing::debug!(site = %crate::http::strip_query(&site), destination, "meetingInfo: the appapi names the meeting's site");
        response = http.send_any(&info_request(http, site, &json)).await?;
    }
    if response.status >= 400 {
        return match from_response(response, destination) {
            MeetingError::AddressNotFound { .. } => Ok(None),
            e => Err(e),
        };
    }
    response.json().map(Some).map_err(|e| match e {
        Error::InvalidResponse { url, message } => MeetingError::MalformedLocus {
            locus_url: url,
            message,
        },
        other => MeetingError::Request(other),
    })
}

/// `POST {locusUrl}/participant` (a known Locus) or `POST {locus}/loci/call`
/// (by address, `body.invitee` set).
pub(crate) async fn join_locus(
    http: &Http,
    url: &str,
    body: &JoinRequest,
    destination: &str,
) -> Result<JoinResponse, MeetingError> {
    let url = with_redirect_flag(parse(url)?);
    let req = HttpRequest::new(Method::POST, url).json(to_json(body)?);
    call(http, req, destination).await
}

/// Sends `req`; maps error answers like [`call`]. A 2xx is success with or
/// without a body: the cloud answers some changes `202`/`204` with nothing
/// (or with a body without `locus`), and the official SDK applies
/// `body.locus` only when present. `Some` is that document.
async fn call_maybe_locus(
    http: &Http,
    req: HttpRequest,
    what: &str,
) -> Result<Option<Locus>, MeetingError> {
    let response = http.send_any(&req).await?;
    if response.status >= 400 {
        return Err(from_response(response, what));
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let has_locus = serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .is_some_and(|v| v.get("locus").is_some_and(|l| !l.is_null()));
    if !has_locus {
        return Ok(None);
    }
    response
        .json::<LocusResponse>()
        .map(|r| Some(r.locus))
        .map_err(|e| match e {
            Error::InvalidResponse { url, message } => MeetingError::MalformedLocus {
                locus_url: url,
                message,
            },
            other => MeetingError::Request(other),
        })
}

/// `PUT {locusUrl}/participant/{selfId}/leave`; the Locus after it, when
/// the answer has one.
pub(crate) async fn leave(
    http: &Http,
    locus_url: &str,
    self_id: &str,
    body: &LeaveRequest,
) -> Result<Option<Locus>, MeetingError> {
    let mut url = parse(locus_url)?;
    url.path_segments_mut()
        .map_err(|()| MeetingError::malformed(locus_url, "cannot take a path"))?
        .pop_if_empty()
        .extend(["participant", self_id, "leave"]);
    let req = HttpRequest::new(Method::PUT, url).json(to_json(body)?);
    call_maybe_locus(http, req, locus_url).await
}

/// `{method} {locusUrl}/controls` (host only): admit (`PUT`) or lock
/// (`PATCH`).
pub(crate) async fn controls(
    http: &Http,
    locus_url: &str,
    method: Method,
    body: &ControlsRequest,
) -> Result<LocusResponse, MeetingError> {
    let mut url = parse(locus_url)?;
    url.path_segments_mut()
        .map_err(|()| MeetingError::malformed(locus_url, "cannot take a path"))?
        .pop_if_empty()
        .push("controls");
    let req = HttpRequest::new(method, url).json(to_json(body)?);
    call(http, req, locus_url).await
}

/// `POST {locusUrl}/end` (host only); the Locus after it, when the answer
/// has one (the cloud answers `202` with no body).
pub(crate) async fn end(
    http: &Http,
    locus_url: &str,
    body: serde_json::Value,
) -> Result<Option<Locus>, MeetingError> {
    let mut url = parse(locus_url)?;
    url.path_segments_mut()
        .map_err(|()| MeetingError::malformed(locus_url, "cannot take a path"))?
        .pop_if_empty()
        .push("end");
    call_maybe_locus(
        http,
        HttpRequest::new(Method::POST, url).json(body),
        locus_url,
    )
    .await
}

/// `PUT {selfUrl}/media` (`media-protocol.md` §2): a ROAP message or a
/// mute-only request; the answer always carries the full Locus.
pub(crate) async fn media(
    http: &Http,
    self_url: &str,
    body: &webex_wire::roap::MediaRequest,
) -> Result<webex_wire::roap::MediaResponse, MeetingError> {
    let mut url = parse(self_url)?;
    url.path_segments_mut()
        .map_err(|()| MeetingError::malformed(self_url, "cannot take a path"))?
        .pop_if_empty()
        .push("media");
    let req = HttpRequest::new(Method::PUT, url).json(to_json(body)?);
    call(http, req, self_url).await
}

/// `PUT {share_url}` (a `mediaShares[].url`): take or release the floor;
/// the Locus after it, when the answer has one (the official SDK ignores
/// the body).
pub(crate) async fn floor(
    http: &Http,
    share_url: &str,
    body: &webex_wire::locus::FloorRequest,
    locus_url: &str,
) -> Result<Option<Locus>, MeetingError> {
    let url = parse(share_url)?;
    let req = HttpRequest::new(Method::PUT, url).json(to_json(body)?);
    call_maybe_locus(http, req, locus_url).await
}

fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, MeetingError> {
    serde_json::to_value(value).map_err(|e| MeetingError::Encode(e.to_string()))
}

#[cfg(test)]
mod site_tests {
    use super::*;

    #[test]
    fn three_label_sip_hosts_are_asked_at_their_site() {
        let url = |s: &str| direct_site(Some(s)).map(|u| u.to_string());
        assert_eq!(
            url("room@Acme.webex.com").as_deref(),
            Some("https://acme.webex.com/wbxappapi/v1/meetingInfo")
        );
        assert_eq!(url("room@meet.webex.com"), None);
        assert_eq!(url("room@meetup.webex.com"), None);
        assert_eq!(url("room@example.com"), None);
        assert_eq!(url("room@a.b.example.com"), None);
        assert_eq!(url("room@a..com"), None);
        assert_eq!(direct_site(None), None);
    }

    #[test]
    fn a_404100_names_the_site() {
        let site = |status, body: serde_json::Value| {
            site_redirect(status, &serde_json::to_vec(&body).unwrap_or_default())
                .map(|u| u.to_string())
        };
        let expected = Some("https://acme.webex.com/wbxappapi/v1/meetingInfo".to_owned());
        assert_eq!(
            site(
                404,
                serde_json::json!({"code": 404100, "data": {"siteUrl": "acme.webex.com"}})
            ),
            expected
        );
        assert_eq!(
            site(
                404,
                serde_json::json!({"code": "404100", "siteUrl": "https://acme.webex.com"})
            ),
            expected
        );
        assert_eq!(
            site(
                404,
                serde_json::json!({"code": 404100, "webExSite": "acme.webex.com"})
            ),
            expected
        );
        assert_eq!(
            site(
                404,
                serde_json::json!({"code": 404001, "siteUrl": "acme.webex.com"})
            ),
            None
        );
        assert_eq!(
            site(
                403,
                serde_json::json!({"code": 404100, "siteUrl": "acme.webex.com"})
            ),
            None
        );
        assert_eq!(site(404, serde_json::json!({"code": 404100})), None);
        assert_eq!(
            site(
                404,
                serde_json::json!({"code": 404100, "siteUrl": "evil.com/x"})
            ),
            None
        );
    }
}
