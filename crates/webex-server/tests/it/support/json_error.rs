//! The Webex JSON error every refusal carries (`ApiError`): the status, a
//! machine-readable `code`, a human `message`, `errors[0].description` and
//! the request's tracking id in the body and the `trackingid` header.

use anyhow::{Context, ensure};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

/// Checks an answer already read: `want` status, a JSON body with `code`,
/// a non-empty message, an error description and a tracking id that the
/// `trackingid` header repeats.
pub fn expect_json_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
    want: StatusCode,
    code: &str,
) -> anyhow::Result<()> {
    ensure!(status == want, "expected {want}, got {status} {body}");
    ensure!(
        headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "error is not JSON: {headers:?}"
    );
    ensure!(body["code"] == code, "code in {body}, expected {code}");
    ensure!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    ensure!(
        body["errors"][0]["description"].is_string(),
        "errors: {body}"
    );
    let tracking_id = body["trackingId"]
        .as_str()
        .filter(|t| !t.is_empty())
        .with_context(|| format!("no trackingId in {body}"))?;
    ensure!(
        headers.get("trackingid").and_then(|v| v.to_str().ok()) == Some(tracking_id),
        "trackingid header {:?} != body {tracking_id}",
        headers.get("trackingid")
    );
    Ok(())
}

/// Reads `res` and checks it with [`expect_json_error`]; returns the body.
pub async fn json_error(
    res: reqwest::Response,
    want: StatusCode,
    code: &str,
) -> anyhow::Result<Value> {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await?;
    let body: Value =
        serde_json::from_str(&text).with_context(|| format!("{status}: not JSON: {text}"))?;
    expect_json_error(status, &headers, &body, want, code)?;
    Ok(body)
}
