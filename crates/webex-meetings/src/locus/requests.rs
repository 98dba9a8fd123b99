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

/// `POST {appapi}/meetingInfo`; `Ok(None)` when the server hosts no such
/// meeting (404).
pub(crate) async fn meeting_info(
    http: &Http,
    appapi: &str,
    body: &MeetingInfoRequest,
    destination: &str,
) -> Result<Option<MeetingInfo>, MeetingError> {
    let url = join(appapi, "meetingInfo")?;
    let req = HttpRequest::new(Method::POST, url).json(to_json(body)?);
    match call(http, req, destination).await {
        Ok(info) => Ok(Some(info)),
        Err(MeetingError::AddressNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
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

fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, MeetingError> {
    serde_json::to_value(value).map_err(|e| MeetingError::Encode(e.to_string()))
}
