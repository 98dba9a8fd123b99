//! The HTTP layer every Webex call goes through.
//!
//! [`Transport`] sends one request with the Webex envelope (`trackingid`,
//! `spark-user-agent`, `cisco-no-http-redirect`, and `cisco-device-url` once
//! a device is registered) and retries what is safe to
//! retry: 429 and 503 after their `Retry-After`, other 5xx and network errors
//! on idempotent methods with exponential backoff and jitter. [`Http`] adds
//! the bearer token and, on a 401, refreshes it once (single flight) and
//! replays the request with the same tracking id.

pub(crate) mod redirect;
pub(crate) mod retry_after;
pub(crate) mod route_token;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;
use webex_wire::error::codes;

use crate::config::RetryPolicy;
use crate::credentials::TokenManager;
use crate::error::{AuthError, Error, HttpError};

/// A request to send. Not `Debug`: forms may carry secrets.
pub(crate) struct HttpRequest {
    pub(crate) method: Method,
    pub(crate) url: Url,
    json: Option<serde_json::Value>,
    form: Option<Vec<(&'static str, SecretString)>>,
    headers: Vec<(HeaderName, SecretString)>,
    /// Send the bearer token (and refresh it on a 401).
    pub(crate) auth: bool,
    /// Send `spark-user-agent`, `cisco-no-http-redirect` and
    /// `cisco-device-url` (not to token URLs).
    webex_headers: bool,
}

impl HttpRequest {
    /// An authenticated request.
    pub(crate) fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            json: None,
            form: None,
            headers: Vec::new(),
            auth: true,
            webex_headers: true,
        }
    }

    /// `GET url`, authenticated.
    pub(crate) fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// Sends no `Authorization`.
    pub(crate) fn without_auth(mut self) -> Self {
        self.auth = false;
        self
    }

    /// A JSON body.
    pub(crate) fn json(mut self, body: serde_json::Value) -> Self {
        self.json = Some(body);
        self
    }

    /// An `application/x-www-form-urlencoded` body; a call to a token
    /// endpoint (no bearer, no Webex client headers).
    pub(crate) fn token_form(mut self, form: Vec<(&'static str, SecretString)>) -> Self {
        self.form = Some(form);
        self.auth = false;
        self.webex_headers = false;
        self
    }

    /// An extra header whose value is secret (e.g. a raw JWT `authorization`).
    pub(crate) fn secret_header(mut self, name: HeaderName, value: SecretString) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The same request, to `url` (a redirect).
    fn redirected(&self, url: Url) -> Self {
        Self {
            method: self.method.clone(),
            url,
            json: self.json.clone(),
            form: self.form.clone(),
            headers: self.headers.clone(),
            auth: self.auth,
            webex_headers: self.webex_headers,
        }
    }

    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD | Method::OPTIONS
        )
    }
}

/// A response of any status.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// The `Retry-After` header.
    retry_after: Option<HeaderValue>,
    /// The `cisco-location` header (a redirect, see [`redirect`]).
    location: Option<String>,
    pub(crate) body: Vec<u8>,
    method: Method,
    url: String,
    tracking_id: String,
}

impl RawResponse {
    /// Decodes a JSON body.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::InvalidResponse {
            url: self.url.clone(),
            message: e.to_string(),
        })
    }

    /// The error this non-2xx answer stands for (no auth interpretation).
    pub(crate) fn http_error(&self) -> HttpError {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let details: Vec<String> = body
            .get("errors")
            .and_then(|e| e.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.get("description").and_then(|v| v.as_str()))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let status_text = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error");
        HttpError {
            method: self.method.to_string(),
            url: self.url.clone(),
            status: self.status,
            code: text("code").or_else(|| text("error")).unwrap_or_default(),
            message: text("message")
                .or_else(|| text("error_description"))
                .unwrap_or_else(|| status_text.to_owned()),
            details,
            tracking_id: self.tracking_id.clone(),
            retry_after: self
                .retry_after_header()
                .and_then(|v| retry_after::parse(v, std::time::SystemTime::now())),
        }
    }

    /// The raw `Retry-After` value, if the server sent a readable one.
    fn retry_after_header(&self) -> Option<&str> {
        self.retry_after.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The error for this answer, reading 401s and scope 403s as auth errors.
    pub(crate) fn into_error(self) -> Error {
        let e = self.http_error();
        match (e.status, e.code.as_str()) {
            (401, codes::TOKEN_EXPIRED) => Error::Auth(AuthError::TokenExpired),
            (401 | 403, codes::MISSING_SCOPE) => Error::Auth(AuthError::MissingScope(
                e.details.last().cloned().unwrap_or(e.message),
            )),
            (401, _) => Error::Auth(AuthError::TokenInvalid { reason: e.message }),
            _ => Error::from(e),
        }
    }
}

/// The header naming the registered device (protocol §0).
const DEVICE_URL_HEADER: &str = "cisco-device-url";

/// Sends requests with the Webex envelope and bounded retries.
pub(crate) struct Transport {
    client: reqwest::Client,
    tracking_base: String,
    sequence: AtomicU64,
    /// `spark-user-agent`.
    user_agent: HeaderValue,
    /// `User-Agent`, on every request.
    http_user_agent: HeaderValue,
    retry: RetryPolicy,
    request_timeout: Duration,
    /// `cisco-device-url` while a device is registered.
    device_url: RwLock<Option<HeaderValue>>,
    /// `X-Cisco-Part-Route-Token` of each Locus.
    route_tokens: route_token::RouteTokens,
}

impl Transport {
    pub(crate) fn new(
        client: reqwest::Client,
        user_agent: &str,
        http_user_agent: &str,
        retry: RetryPolicy,
        request_timeout: Duration,
    ) -> Self {
        Self {
            client,
            tracking_base: uuid::Uuid::new_v4().to_string(),
            sequence: AtomicU64::new(0),
            user_agent: HeaderValue::from_str(user_agent)
                .unwrap_or_else(|_| HeaderValue::from_static("webex-rs")),
            http_user_agent: HeaderValue::from_str(http_user_agent)
                .unwrap_or_else(|_| HeaderValue::from_static("webex-rs")),
            retry,
            request_timeout,
            device_url: RwLock::new(None),
            route_tokens: route_token::RouteTokens::default(),
        }
    }

    /// Sets (or, with `None`, stops sending) the `cisco-device-url` header
    /// that Webex requests carry while a device is registered. Token
    /// endpoint calls never carry it.
    pub(crate) fn set_device_url(&self, url: Option<&str>) {
        let value = url.and_then(|u| HeaderValue::from_str(u).ok());
        *self
            .device_url
            .write()
            .unwrap_or_else(PoisonError::into_inner) = value;
    }

    /// The `cisco-device-url` value Webex requests carry now, if any.
    pub(crate) fn device_url(&self) -> Option<HeaderValue> {
        self.device_url
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The next `webex-rs_<uuid>_<n>` tracking id.
    pub(crate) fn next_tracking_id(&self) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        webex_wire::tracking::format("webex-rs", &self.tracking_base, n)
    }

    /// Sends `req`, retrying 429/503 (after `Retry-After`) and, for idempotent
    /// methods, other 5xx and network failures. Any final status is returned.
    pub(crate) async fn send(
        &self,
        req: &HttpRequest,
        bearer: Option<&SecretString>,
        tracking_id: &str,
    ) -> Result<RawResponse, Error> {
        // Computed once: every attempt's errors and logs name the URL this way.
        let shown_url = strip_query(&req.url);
        let mut attempt = 0u32;
        loop {
            let result = self.send_once(req, bearer, tracking_id, &shown_url).await;
            let retries_left = attempt < self.retry.max_retries;
            let wait = match &result {
                Ok(r) if retries_left && (r.status == 429 || r.status == 503) => {
                    Some(retry_after::wait(
                        r.retry_after_header(),
                        self.retry.default_retry_after,
                        self.retry.max_retry_after,
                    ))
                }
                Ok(r) if retries_left && r.status >= 500 && req.idempotent() => {
                    Some(self.retry.backoff(attempt))
                }
                Err(Error::Network { .. } | Error::Timeout { .. })
                    if retries_left && req.idempotent() =>
                {
                    Some(self.retry.backoff(attempt))
                }
                _ => None,
            };
            match wait {
                None => return result,
                Some(wait) => {
                    tracing::debug!(
                        method = %req.method, url = %shown_url, attempt, ?wait,
                        status = result.as_ref().map(|r| r.status).ok(),
                        "retrying request"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One attempt; `shown_url` is `req.url` as errors show it.
    async fn send_once(
        &self,
        req: &HttpRequest,
        bearer: Option<&SecretString>,
        tracking_id: &str,
        shown_url: &str,
    ) -> Result<RawResponse, Error> {
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .timeout(self.request_timeout)
            .header(webex_wire::tracking::HEADER, tracking_id)
            .header(reqwest::header::USER_AGENT, self.http_user_agent.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if req.webex_headers {
            builder = builder
                .header("spark-user-agent", self.user_agent.clone())
                .header("cisco-no-http-redirect", "true");
            if let Some(device_url) = self.device_url() {
                builder = builder.header(DEVICE_URL_HEADER, device_url);
            }
            if let Some(token) = self.route_tokens.for_url(&req.url) {
                builder = builder.header(route_token::HEADER, token);
            }
        }
        if let Some(token) = bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    Error::Auth(AuthError::TokenInvalid {
                        reason: "the token contains characters not allowed in a header".into(),
                    })
                })?;
            value.set_sensitive(true);
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        for (name, value) in &req.headers {
            let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                // Only credentials travel in these headers (the guest JWT).
                Error::Auth(AuthError::TokenInvalid {
                    reason: format!("the {name} value contains characters not allowed in a header"),
                })
            })?;
            value.set_sensitive(true);
            builder = builder.header(name.clone(), value);
        }
        if let Some(json) = &req.json {
            builder = builder.json(json);
        }
        if let Some(form) = &req.form {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (*k, v.expose_secret())).collect();
            builder = builder.form(&pairs);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| map_reqwest(shown_url, e, self.request_timeout))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .cloned();
        if req.webex_headers {
            self.route_tokens
                .record(&req.url, response.headers().get(route_token::HEADER));
        }
        let location = response
            .headers()
            .get("cisco-location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| map_reqwest(shown_url, e, self.request_timeout))?
            .to_vec();
        Ok(RawResponse {
            status,
            retry_after,
            location,
            body,
            method: req.method.clone(),
            url: shown_url.to_owned(),
            tracking_id: tracking_id.to_owned(),
        })
    }
}

fn map_reqwest(url: &str, e: reqwest::Error, timeout: Duration) -> Error {
    if e.is_timeout() {
        Error::Timeout {
            url: url.to_owned(),
            after: timeout,
        }
    } else {
        // reqwest errors carry the URL; print the chain without it.
        let e = e.without_url();
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Error::Network {
            url: url.to_owned(),
            message,
        }
    }
}

/// The URL without query or fragment, for errors and logs.
pub(crate) fn strip_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// `base` + `/` + `path`, with slashes trimmed (Webex service-relative URLs).
/// `base` is the validated discovery URL or a URL from the catalog, so a
/// failure means the catalog named an unusable URL.
pub(crate) fn join(base: &str, path: &str) -> Result<Url, Error> {
    let joined = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    Url::parse(&joined).map_err(|e| Error::InvalidResponse {
        url: joined.clone(),
        message: format!("the service catalog gave a URL that does not parse ({e})"),
    })
}

/// Authenticated requests: bearer token, and refresh-then-replay on a 401.
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) transport: Arc<Transport>,
    pub(crate) tokens: Arc<TokenManager>,
    /// Says which hosts may see the token.
    pub(crate) services: Arc<crate::services::Services>,
}

impl Http {
    /// Sends `req`; any status ≥ 400 becomes an error.
    pub(crate) async fn send(&self, req: HttpRequest) -> Result<RawResponse, Error> {
        let response = self.send_any(&req).await?;
        if response.status >= 400 {
            return Err(response.into_error());
        }
        Ok(response)
    }

    /// Sends `req` and decodes the JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, req: HttpRequest) -> Result<T, Error> {
        self.send(req).await?.json()
    }

    /// Sends `req`, returning any final status. A 401 on an authenticated
    /// request refreshes the token once (shared with concurrent callers) and
    /// replays the request with the same tracking id.
    ///
    /// The cloud's redirects (a `cisco-location` header, a Locus `2000002`
    /// answer) are followed on requests that carry the Webex headers, up to
    /// their hop limits ([`redirect`]); past them the request fails with
    /// [`Error::TooManyRedirects`].
    pub(crate) async fn send_any(&self, req: &HttpRequest) -> Result<RawResponse, Error> {
        let tracking_id = self.transport.next_tracking_id();
        let mut response = self.send_one(req, &tracking_id).await?;
        if !req.webex_headers {
            return Ok(response);
        }
        let (mut header_hops, mut locus_hops) = (0u32, 0u32);
        let mut current_url = req.url.clone();
        loop {
            let next = redirect::target(&current_url, response.location.as_deref(), &response.body);
            let url = match next {
                None => return Ok(response),
                Some(redirect::Redirect::Header(url)) => {
                    header_hops += 1;
                    url
                }
                Some(redirect::Redirect::Locus(url)) => {
                    locus_hops += 1;
                    url
                }
            };
            if header_hops > redirect::MAX_HEADER_HOPS || locus_hops > redirect::MAX_LOCUS_HOPS {
                return Err(Error::TooManyRedirects {
                    url: strip_query(&req.url),
                    hops: header_hops + locus_hops - 1,
                });
            }
            tracing::debug!(from = %strip_query(&current_url), to = %strip_query(&url), "following a redirect");
            let hop = req.redirected(url);
            response = self.send_one(&hop, &tracking_id).await?;
            current_url = hop.url;
        }
    }

    /// One request (no redirects), with the bearer token when `req` asks
    /// for it and its host is trusted.
    async fn send_one(&self, req: &HttpRequest, tracking_id: &str) -> Result<RawResponse, Error> {
        if !req.auth {
            return self.transport.send(req, None, tracking_id).await;
        }
        if !self.services.trusts(&req.url) {
            tracing::warn!(url = %strip_query(&req.url), "not sending the access token to a host outside the catalog and the allowed domains");
            return Err(Error::UntrustedHost {
                url: strip_query(&req.url),
            });
        }
        let lease = self.tokens.current().await?;
        let response = self
            .transport
            .send(req, Some(&lease.token), tracking_id)
            .await?;
        if response.status != 401 || !self.tokens.can_refresh() {
            return Ok(response);
        }
        tracing::debug!(url = %strip_query(&req.url), "401: refreshing the access token and replaying");
        let fresh = self.tokens.refresh(lease.generation).await?;
        self.transport
            .send(req, Some(&fresh.token), tracking_id)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::http::HeaderMap;

    use super::*;

    /// Serves anything with `{}` and records each request's `cisco-device-url`.
    async fn recorder() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let router = axum::Router::new().fallback(move |headers: HeaderMap| {
            let value = headers
                .get(DEVICE_URL_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            record
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(value);
            async { "{}" }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (format!("http://{addr}"), seen)
    }

    #[tokio::test]
    async fn the_device_url_is_sent_once_set_but_never_to_the_token_endpoint() {
        let (base, seen) = recorder().await;
        let transport = Transport::new(
            reqwest::Client::new(),
            "webex/test (rust) webex-rs/test",
            "webex-rs/test",
            RetryPolicy::default(),
            Duration::from_secs(10),
        );
        let url = join(&base, "v1/people/me").unwrap_or_else(|e| panic!("{e}"));
        let get = || HttpRequest::get(url.clone());
        let token_call = || {
            HttpRequest::new(Method::POST, url.clone())
                .token_form(vec![("grant_type", SecretString::from("refresh_token"))])
        };
        let send = |req: HttpRequest| {
            let transport = &transport;
            async move {
                transport
                    .send(&req, None, "t")
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        };

        send(get()).await;
        transport.set_device_url(Some("http://127.0.0.1:1/wdm/api/v1/devices/d1"));
        send(get()).await;
        send(token_call()).await;
        transport.set_device_url(None);
        send(get()).await;

        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert_eq!(
            seen,
            [
                None,
                Some("http://127.0.0.1:1/wdm/api/v1/devices/d1".to_owned()),
                None,
                None
            ]
        );
    }
}
