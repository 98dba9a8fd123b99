//! The contract suite: the SDK against answers shaped like Webex's cloud
//! sends them, one test per shape.
//!
//! Each shape is written from what the official SDK (webex@3.12.0) reads
//! and what its own fixtures show (see `/docs/FIDELITY.md`), in this
//! project's own data. The harness is a recording proxy in front of the
//! real server ([`Cloud`]): the server believes the proxy is its public
//! URL, so every URL it hands out leads back through the proxy, and each
//! test rewrites the few answers whose cloud shape it checks.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use webex_meetings::{Credentials, Meetings, Webex, WebexConfig};
use webex_server::testing::TestServer;

use crate::support::{quick_timeouts, within};

/// A path prefix the proxy drops: "another cluster" on the same server.
pub const CLUSTER_B: &str = "/cluster-b";

/// One request the SDK sent through the proxy.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

/// One answer, as the server gave it or as a rewrite makes it.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn with_json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).unwrap();
        self
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Rewrites one answer: `Some` replaces it, `None` leaves it to the next
/// rewrite (or as the server gave it).
type Rewrite = Arc<dyn Fn(&Seen, &Answer) -> Option<Answer> + Send + Sync>;

/// Holds matching requests: before they reach the server (`true`) or
/// after, before the answer goes back (`false`).
type Delay = (
    Arc<dyn Fn(&Seen) -> bool + Send + Sync>,
    std::time::Duration,
    bool,
);

#[derive(Clone)]
struct Proxy {
    server: String,
    proxy: String,
    client: reqwest::Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    rewrites: Arc<Mutex<Vec<Rewrite>>>,
    delays: Arc<Mutex<Vec<Delay>>>,
    /// `permissionToken`s a rewrite put into a meetingInfo answer → the
    /// server's own: the proxy plays the cloud that issued them, so a
    /// request carrying one reaches the server with the real one (which
    /// the server requires for joins by address).
    tokens: Arc<Mutex<std::collections::HashMap<String, String>>>,
}

impl Proxy {
    /// `body` with a rewritten `permissionToken` swapped for the server's
    /// own; `None` when there is nothing to swap.
    fn real_token(&self, body: &Value) -> Option<Value> {
        let given = body.get("permissionToken")?.as_str()?;
        let real = self.tokens.lock().unwrap().get(given)?.clone();
        let mut body = body.clone();
        body["permissionToken"] = Value::String(real);
        Some(body)
    }

    /// Remembers which server token a rewrite replaced.
    fn remember_token(&self, original: &Answer, rewritten: &Answer) {
        let token = |a: &Answer| a.json().get("permissionToken")?.as_str().map(str::to_owned);
        if let (Some(real), Some(given)) = (token(original), token(rewritten))
            && real != given
        {
            self.tokens.lock().unwrap().insert(given, real);
        }
    }

    async fn hold(&self, seen: &Seen, before: bool) {
        let wait = self
            .delays
            .lock()
            .unwrap()
            .iter()
            .filter(|(matches, _, b)| *b == before && matches(seen))
            .map(|(_, d, _)| *d)
            .max();
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The real server behind a recording, rewriting proxy.
pub struct Cloud {
    pub server: TestServer,
    /// The proxy's base URL (what the server calls its public URL).
    pub base: String,
    proxy: Proxy,
}

impl Cloud {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let public = base.clone();
        let server = TestServer::start_with(|c| c.public_url = Some(public))
            .await
            .unwrap();
        let proxy = Proxy {
            // `base_url()` is the public URL, this proxy: go to the socket.
            server: format!("http://{}", server.server().local_addr()),
            proxy: base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            seen: Arc::default(),
            rewrites: Arc::default(),
            delays: Arc::default(),
            tokens: Arc::default(),
        };
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            server,
            base,
            proxy,
        }
    }

    /// Adds a rewrite, tried before those added earlier.
    pub fn rewrite(&self, f: impl Fn(&Seen, &Answer) -> Option<Answer> + Send + Sync + 'static) {
        self.proxy.rewrites.lock().unwrap().insert(0, Arc::new(f));
    }

    /// Holds requests matching `matches` for `wait`: before they reach the
    /// server when `before`, else after (the server acted; the answer is
    /// late).
    pub fn delay(
        &self,
        matches: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        wait: std::time::Duration,
        before: bool,
    ) {
        self.proxy
            .delays
            .lock()
            .unwrap()
            .push((Arc::new(matches), wait, before));
    }

    /// Stops holding any request.
    pub fn no_delays(&self) {
        self.proxy.delays.lock().unwrap().clear();
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.proxy.seen.lock().unwrap().clone()
    }

    /// The requests whose method is `method` and whose path contains `part`.
    pub fn requests(&self, method: &str, part: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method && s.uri.split('?').next().unwrap().contains(part))
            .collect()
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/u2c/api/v1", self.base)
    }

    /// A registered SDK for `email`, through the proxy.
    pub async fn user(&self, email: &str) -> (Webex, Meetings) {
        let token = self.server.token_for(email).await.unwrap();
        let webex = Webex::init(self.config(&token).build().unwrap());
        let meetings = webex.meetings();
        within(meetings.register()).await.unwrap();
        (webex, meetings)
    }

    pub fn config(&self, token: &str) -> webex_meetings::WebexConfigBuilder {
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(self.discovery_url())
            .device_name("contract")
            .timeouts(quick_timeouts())
            .meeting_preferences(false)
    }
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        uri: uri.clone(),
        headers: parts.headers.clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    p.seen.lock().unwrap().push(seen.clone());
    p.hold(&seen, true).await;
    // `/cluster-b/…` stands for another Locus cluster: the same server.
    let target = uri.strip_prefix(CLUSTER_B).unwrap_or(&uri);
    let bytes = p.real_token(&seen.body).map_or(bytes, |body| {
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    });
    let mut out = p
        .client
        .request(parts.method.clone(), format!("{}{target}", p.server));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    let answer = match out.body(bytes.to_vec()).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .filter(|(n, _)| *n != "content-length" && *n != "transfer-encoding")
                .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
                .collect();
            let body = r.bytes().await.unwrap_or_default().to_vec();
            // Mercury goes straight to the server: this proxy speaks HTTP only.
            let ws_proxy = p.proxy.replacen("http://", "ws://", 1);
            let ws_server = p.server.replacen("http://", "ws://", 1);
            let body = String::from_utf8(body)
                .map(|s| s.replace(&ws_proxy, &ws_server).into_bytes())
                .unwrap_or_else(|e| e.into_bytes());
            Answer {
                status,
                headers,
                body,
            }
        }
        Err(e) => Answer {
            status: 502,
            headers: Vec::new(),
            body: e.to_string().into_bytes(),
        },
    };
    p.hold(&seen, false).await;
    let rewrites: Vec<Rewrite> = p.rewrites.lock().unwrap().clone();
    let answer = match rewrites.iter().find_map(|r| r(&seen, &answer)) {
        Some(rewritten) => {
            p.remember_token(&answer, &rewritten);
            rewritten
        }
        None => answer,
    };
    let mut response = (
        axum::http::StatusCode::from_u16(answer.status).unwrap(),
        answer.body,
    )
        .into_response();
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

/// Whether `seen` is `method` on a path ending with `suffix` (query ignored).
pub fn is(seen: &Seen, method: &str, suffix: &str) -> bool {
    seen.method == method && seen.uri.split('?').next().unwrap().ends_with(suffix)
}

// ------------------------------------------------------------ WDM answers

/// WDM leaves `type` and `lastModified` out of some feature toggles; the
/// official SDK defaults every feature field.
#[tokio::test]
async fn wdm_features_without_type_or_last_modified() {
    let cloud = Cloud::start().await;
    cloud.rewrite(|seen, answer| {
        if !is(seen, "POST", "/wdm/api/v1/devices") || answer.status >= 300 {
            return None;
        }
        let mut device = answer.json();
        for group in ["developer", "entitlement", "user"] {
            device["features"][group] = json!([{"key": "k", "val": "true"}, {"key": "bare"}]);
        }
        Some(Answer {
            status: answer.status,
            headers: answer.headers.clone(),
            body: serde_json::to_vec(&device).unwrap(),
        })
    });
    let (_webex, meetings) = cloud.user("features@example.com").await;
    let device = meetings.device().unwrap();
    assert_eq!(device.features.user[0].kind, None);
    assert_eq!(device.features.user[1].val, "");
    within(meetings.unregister()).await.unwrap();
}

/// A 2xx device answer the SDK cannot read still created a device: it is
/// deleted, not leaked toward the user's device limit.
#[tokio::test]
async fn an_unreadable_device_answer_deletes_the_device() {
    let cloud = Cloud::start().await;
    cloud.rewrite(|seen, answer| {
        if !is(seen, "POST", "/wdm/api/v1/devices") || answer.status >= 300 {
            return None;
        }
        let mut device = answer.json();
        device["features"] = json!("not an object");
        Some(Answer {
            status: answer.status,
            headers: answer.headers.clone(),
            body: serde_json::to_vec(&device).unwrap(),
        })
    });
    let token = cloud.server.token_for("leak@example.com").await.unwrap();
    let meetings = Webex::init(cloud.config(&token).build().unwrap()).meetings();
    for _ in 0..2 {
        within(meetings.register()).await.unwrap_err();
    }
    let left = crate::support::devices(&cloud.server, &token).await;
    assert!(left.is_empty(), "leaked: {left:?}");
}

// ----------------------------------------------------- Locus change answers

/// Waits until `done()` holds.
pub async fn eventually(mut done: impl FnMut() -> bool) {
    within(async {
        while !done() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
}

/// `email` registered through `cloud`, in the meeting at `destination`.
async fn joined(
    cloud: &Cloud,
    email: &str,
    destination: &str,
) -> (Webex, Meetings, webex_meetings::Meeting) {
    let (webex, meetings) = cloud.user(email).await;
    let meeting = within(meetings.create(destination)).await.unwrap();
    within(meeting.join()).await.unwrap();
    assert!(meeting.is_joined());
    (webex, meetings, meeting)
}

/// Leave answered `status` with no body at all.
async fn leave_without_a_body(status: u16) {
    let cloud = Cloud::start().await;
    cloud.rewrite(move |seen, answer| {
        (is(seen, "PUT", "/leave") && answer.status < 300).then(|| Answer::empty(status))
    });
    let (_webex, _meetings, meeting) =
        joined(&cloud, "leaver@example.com", "leaver@example.com").await;
    within(meeting.leave()).await.unwrap();
    // The roster comes from the event or the GET that follows.
    eventually(|| !meeting.is_joined()).await;
}

#[tokio::test]
async fn leave_answered_204_without_a_body() {
    leave_without_a_body(204).await;
}

#[tokio::test]
async fn leave_answered_200_without_a_body() {
    leave_without_a_body(200).await;
}

/// End answered `202 Accepted` with no body, as the cloud does.
#[tokio::test]
async fn end_answered_202_without_a_body() {
    let cloud = Cloud::start().await;
    cloud.rewrite(|seen, answer| {
        (is(seen, "POST", "/end") && answer.status < 300).then(|| Answer::empty(202))
    });
    let (_webex, meetings, meeting) =
        joined(&cloud, "ender@example.com", "ender@example.com").await;
    within(meeting.end_for_all()).await.unwrap();
    eventually(|| meetings.list().is_empty()).await;
}

/// A 2xx leave whose body has no `locus` (the official SDK applies
/// `body.locus` only when present).
#[tokio::test]
async fn leave_answered_with_a_body_without_locus() {
    let cloud = Cloud::start().await;
    cloud.rewrite(|seen, answer| {
        (is(seen, "PUT", "/leave") && answer.status < 300)
            .then(|| Answer::empty(200).with_json(&json!({"mediaConnections": []})))
    });
    let (_webex, _meetings, meeting) =
        joined(&cloud, "leaver2@example.com", "leaver2@example.com").await;
    within(meeting.leave()).await.unwrap();
    eventually(|| !meeting.is_joined()).await;
}

// ------------------------------------------------------------- meetingInfo

/// An unsigned JWT whose `exp` is `exp` (seconds since the epoch).
fn jwt(exp: u64, marker: &str) -> String {
    use base64::Engine;
    let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.sig",
        enc(br#"{"alg":"none","typ":"JWT"}"#),
        enc(json!({"exp": exp, "jti": marker}).to_string().as_bytes())
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The join requests seen (by address or at a known Locus).
fn joins(cloud: &Cloud) -> Vec<Seen> {
    cloud
        .seen()
        .into_iter()
        .filter(|s| is(s, "POST", "/loci/call") || is(s, "POST", "/participant"))
        .collect()
}

/// Rewrites meetingInfo answers with `f` (answers 2xx only).
fn on_meeting_info(cloud: &Cloud, f: impl Fn(&Seen, &mut Value) + Send + Sync + 'static) {
    cloud.rewrite(move |seen, answer| {
        if !is(seen, "POST", "/meetingInfo") || answer.status >= 300 {
            return None;
        }
        let mut info = answer.json();
        f(seen, &mut info);
        Some(Answer::empty(answer.status).with_json(&info))
    });
}

/// meetingInfo's `permissionToken` reaches the join body.
#[tokio::test]
async fn meeting_info_permission_token_is_sent_in_the_join() {
    let cloud = Cloud::start().await;
    let token = jwt(now_secs() + 3600, "long");
    let given = token.clone();
    on_meeting_info(&cloud, move |_, info| {
        info["permissionToken"] = json!(given);
    });
    let (_webex, _meetings, _meeting) =
        joined(&cloud, "perm@example.com", "perm@example.com").await;
    let joins = joins(&cloud);
    assert_eq!(joins.len(), 1);
    assert_eq!(joins[0].body["permissionToken"], json!(token));
    assert_eq!(cloud.requests("POST", "/meetingInfo").len(), 1);
}

/// A `permissionToken` that expires within 30 s is refreshed (meetingInfo
/// again, with the old token) before the join, which carries the new one.
#[tokio::test]
async fn an_expiring_permission_token_is_refreshed_before_the_join() {
    let cloud = Cloud::start().await;
    let old = jwt(now_secs() + 5, "old");
    let fresh = jwt(now_secs() + 3600, "fresh");
    let (o, f) = (old.clone(), fresh.clone());
    on_meeting_info(&cloud, move |seen, info| {
        let refreshing = seen.body.get("permissionToken").is_some();
        info["permissionToken"] = json!(if refreshing { &f } else { &o });
    });
    let (_webex, _meetings, _meeting) =
        joined(&cloud, "perm2@example.com", "perm2@example.com").await;
    let infos = cloud.requests("POST", "/meetingInfo");
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[1].body["permissionToken"], json!(old));
    assert_eq!(infos[1].body["sipUrl"], infos[0].body["sipUrl"]);
    assert_eq!(joins(&cloud)[0].body["permissionToken"], json!(fresh));
}

// ------------------------------------------------------------- join request

/// The join body carries what the official SDK always sends.
#[tokio::test]
async fn the_join_body_has_the_official_fields() {
    let cloud = Cloud::start().await;
    let (_webex, meetings, _meeting) = joined(&cloud, "body@example.com", "body@example.com").await;
    let join = &joins(&cloud)[0];
    let device = meetings.device().unwrap();
    let body = &join.body;
    assert_eq!(body["device"]["url"], json!(device.url));
    assert_eq!(body["device"]["deviceType"], "WEB");
    assert_eq!(body["allowMultiDevice"], true);
    assert_eq!(body["supportsNativeLobby"], 1);
    assert_eq!(body["respOnlySdp"], true);
    assert_eq!(body["moveMediaToResource"], false);
    assert_eq!(body["ensureConversation"], false);
    assert!(body.as_object().unwrap().contains_key("usingResource"));
    assert!(body["usingResource"].is_null());
    assert_eq!(
        body["clientMediaPreferences"],
        json!({"ipver": 0, "joinCookie": null, "preferTranscoding": true})
    );
    assert!(
        body["correlationId"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(join.uri.contains("alternateRedirect=true"), "{}", join.uri);
}

/// Every request names this SDK in `User-Agent`, and `spark-user-agent`
/// follows the official clients' `webex/<version> (<platform>)` format.
#[tokio::test]
async fn requests_carry_an_honest_user_agent_in_the_cloud_format() {
    let cloud = Cloud::start().await;
    let (_webex, meetings) = cloud.user("agent@example.com").await;
    within(meetings.unregister()).await.unwrap();
    let seen = cloud.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        let header = |n: &str| {
            s.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let ua = header("user-agent");
        assert!(ua.starts_with("webex-rs/"), "{} User-Agent {ua:?}", s.uri);
        let spark = header("spark-user-agent");
        assert!(
            spark.starts_with("webex/") && spark.contains(" (rust) webex-rs/"),
            "{} spark-user-agent {spark:?}",
            s.uri
        );
        assert_eq!(header("cisco-no-http-redirect"), "true", "{}", s.uri);
    }
}

/// `X-Cisco-Part-Route-Token` from a Locus answer is echoed on later
/// requests to that Locus.
#[tokio::test]
async fn the_route_token_is_echoed_to_its_locus() {
    let cloud = Cloud::start().await;
    // The cloud's token, on the join's answer and every later one (the
    // server's own is replaced).
    cloud.rewrite(|seen, answer| {
        let routed = answer
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-cisco-part-route-token"));
        if !(is(seen, "POST", "/participant") || routed) || answer.status >= 300 {
            return None;
        }
        let mut headers: Vec<(String, String)> = answer
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("x-cisco-part-route-token"))
            .cloned()
            .collect();
        headers.push(("X-Cisco-Part-Route-Token".into(), "route-1".into()));
        Some(Answer {
            status: answer.status,
            headers,
            body: answer.body.clone(),
        })
    });
    let (_a, _alice, _first) = joined(&cloud, "host@example.com", "host@example.com").await;
    // Bob joins the running meeting at its Locus (meetingInfo names it).
    let (_b, _bob, meeting) = joined(&cloud, "guest@example.com", "host@example.com").await;
    assert!(is(joins(&cloud).last().unwrap(), "POST", "/participant"));
    within(meeting.leave()).await.unwrap();
    let leave = cloud.requests("PUT", "/leave");
    assert_eq!(leave.len(), 1);
    assert_eq!(
        leave[0]
            .headers
            .get("x-cisco-part-route-token")
            .and_then(|v| v.to_str().ok()),
        Some("route-1")
    );
}

// ---------------------------------------------------------------- redirects

/// A join answered `404 {"errorCode":2000002,"location":…}` is sent again
/// to that location.
#[tokio::test]
async fn a_locus_2000002_redirect_is_followed() {
    let cloud = Cloud::start().await;
    let base = cloud.base.clone();
    let once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    cloud.rewrite(move |seen, _| {
        if !is(seen, "POST", "/loci/call") || once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let location = format!("{base}{CLUSTER_B}/locus/api/v1/loci/call?alternateRedirect=true");
        Some(Answer::empty(404).with_json(&json!({"errorCode": 2000002, "location": location})))
    });
    let (_webex, _meetings, _meeting) =
        joined(&cloud, "redir@example.com", "redir@example.com").await;
    let calls = cloud.requests("POST", "/loci/call");
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1].uri.starts_with(&format!("{CLUSTER_B}/")),
        "{}",
        calls[1].uri
    );
    assert!(calls[1].headers.contains_key("authorization"));
    assert_eq!(calls[1].body, calls[0].body);
}

/// A `cisco-location` header sends the same request there.
#[tokio::test]
async fn a_cisco_location_header_is_followed() {
    let cloud = Cloud::start().await;
    let base = cloud.base.clone();
    cloud.rewrite(move |seen, _| {
        if seen.method != "GET" || !seen.uri.starts_with("/locus/api/v1/loci") {
            return None;
        }
        let location = format!("{base}{CLUSTER_B}{}", seen.uri);
        Some(Answer {
            status: 200,
            headers: vec![("cisco-location".into(), location)],
            body: Vec::new(),
        })
    });
    let (_webex, meetings) = cloud.user("located@example.com").await;
    within(meetings.sync()).await.unwrap();
    let gets = cloud.requests("GET", "/locus/api/v1/loci");
    assert_eq!(gets.len(), 2);
    assert!(gets[1].uri.starts_with(CLUSTER_B));
}

/// Redirects are followed only up to a hop limit.
#[tokio::test]
async fn redirects_stop_at_the_hop_limit() {
    let cloud = Cloud::start().await;
    let base = cloud.base.clone();
    cloud.rewrite(move |seen, _| {
        (seen.method == "GET" && seen.uri.contains("/locus/api/v1/loci")).then(|| Answer {
            status: 200,
            headers: vec![("cisco-location".into(), format!("{base}/locus/api/v1/loci"))],
            body: Vec::new(),
        })
    });
    let (_webex, meetings) = cloud.user("loop@example.com").await;
    let e = within(meetings.sync()).await.unwrap_err();
    assert!(
        matches!(
            &e,
            webex_meetings::MeetingError::Request(webex_meetings::Error::TooManyRedirects { .. })
        ),
        "{e:?}"
    );
    assert_eq!(cloud.requests("GET", "/locus/api/v1/loci").len(), 11);
}

/// meetingInfo's `locusClusterUrl` says where a join by address goes.
#[tokio::test]
async fn meeting_info_locus_cluster_url_is_where_the_join_goes() {
    let cloud = Cloud::start().await;
    let cluster = format!("{}{CLUSTER_B}/locus/api/v1", cloud.base);
    on_meeting_info(&cloud, move |_, info| {
        info["locusClusterUrl"] = json!(cluster);
    });
    let (_webex, _meetings, _meeting) =
        joined(&cloud, "cluster@example.com", "cluster@example.com").await;
    let joins = joins(&cloud);
    assert_eq!(joins.len(), 1);
    assert!(
        joins[0]
            .uri
            .starts_with(&format!("{CLUSTER_B}/locus/api/v1/loci/call")),
        "{}",
        joins[0].uri
    );
}

// ------------------------------------------------------------ bearer token

/// A Locus URL on a host outside the catalog and the allowed domains gets
/// no token: the join fails with a typed error before anything is sent.
#[tokio::test]
async fn a_locus_url_on_a_foreign_host_gets_no_token() {
    let cloud = Cloud::start().await;
    let foreign = cloud.base.replace("127.0.0.1", "localhost");
    on_meeting_info(&cloud, move |_, info| {
        info["locusUrl"] = json!(format!(
            "{foreign}/locus/api/v1/loci/6b1c0f2e-1111-4222-8333-944455556666"
        ));
    });
    let (_webex, meetings) = cloud.user("foreign@example.com").await;
    let meeting = within(meetings.create("foreign@example.com"))
        .await
        .unwrap();
    let e = within(meeting.join()).await.unwrap_err();
    assert!(
        matches!(&e, webex_meetings::MeetingError::Request(webex_meetings::Error::UntrustedHost { url }) if url.starts_with("http://localhost:")),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    let leaked: Vec<_> = cloud
        .seen()
        .into_iter()
        .filter(|s| {
            s.headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .is_some_and(|h| h.starts_with("localhost"))
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

// -------------------------------------------------------- device refresh

/// WDM's own fields (`services`, `serviceHostMap`, settings it adds) are
/// never sent back in a refresh.
#[tokio::test]
async fn a_device_refresh_does_not_echo_wdm_fields() {
    let cloud = Cloud::start().await;
    cloud.rewrite(|seen, answer| {
        if seen.method == "GET"
            || !seen.uri.starts_with("/wdm/api/v1/devices")
            || answer.status >= 300
        {
            return None;
        }
        let mut device = answer.json();
        device["services"] = json!({"locusServiceUrl": "https://locus-a.wbx2.com/locus/api/v1"});
        device["serviceHostMap"] = json!({"serviceLinks": {}, "hostCatalog": {}});
        device["clientMessagingGiphy"] = json!("ALLOW");
        Some(Answer::empty(answer.status).with_json(&device))
    });
    let token = cloud.server.token_for("refresh@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");
    let start = || {
        Webex::init(
            cloud
                .config(&token)
                .device_store(webex_meetings::FileDeviceStore::new(&path))
                .build()
                .unwrap(),
        )
    };
    let first = start();
    let device = within(first.meetings().register()).await.unwrap().device;
    assert!(!device.extra.contains_key("services"));
    assert!(!device.extra.contains_key("serviceHostMap"));
    drop(first);
    let second = start();
    let report = within(second.meetings().register()).await.unwrap();
    assert!(report.reused_device);
    let puts = cloud.requests("PUT", "/wdm/api/v1/devices/");
    assert_eq!(puts.len(), 1);
    let body = puts[0].body.as_object().unwrap();
    for field in [
        "services",
        "serviceHostMap",
        "clientMessagingGiphy",
        "features",
    ] {
        assert!(!body.contains_key(field), "{field} echoed: {body:?}");
    }
    assert_eq!(body["url"], json!(device.url));
    within(second.meetings().unregister()).await.unwrap();
}

// ---------------------------------------------------------------- hash tree

async fn publish(cloud: &Cloud, device: &webex_meetings::Device, data: Value) {
    let id = device.url.trim_end_matches('/').rsplit('/').next().unwrap();
    reqwest::Client::new()
        .post(format!("{}/admin/api/v1/events", cloud.proxy.server))
        .bearer_auth(webex_server::testing::ADMIN_TOKEN)
        .json(&json!({"deviceId": id, "data": data}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

/// A hash-tree event (`locus.state_message`, or a document with
/// `dataSets`) is answered by fetching the meeting whole.
async fn hash_tree_event_resyncs(make: impl Fn(&str) -> Value) {
    let cloud = Cloud::start().await;
    let (_webex, meetings, meeting) = joined(&cloud, "tree@example.com", "tree@example.com").await;
    let url = meeting.locus_url().unwrap();
    let path = url.strip_prefix(&cloud.base).unwrap().to_owned();
    let gets = || {
        cloud
            .requests("GET", &path)
            .into_iter()
            .filter(|s| s.uri.split('?').next() == Some(path.as_str()))
            .count()
    };
    let before = gets();
    publish(&cloud, &meetings.device().unwrap(), make(&url)).await;
    eventually(|| gets() > before).await;
}

#[tokio::test]
async fn a_hash_tree_state_message_triggers_a_resync() {
    hash_tree_event_resyncs(|url| {
        json!({"eventType": "locus.state_message", "locusUrl": url,
               "stateElementsMessage": {"htMeta": {"elementId": {"type": "self", "id": 1, "version": 2}}}})
    })
    .await;
}

#[tokio::test]
async fn a_locus_document_with_data_sets_triggers_a_resync() {
    hash_tree_event_resyncs(|url| {
        json!({"eventType": "locus.difference", "locusUrl": url,
               "locus": {"url": url, "dataSets": [{"name": "main", "root": "abc", "version": 3}]}})
    })
    .await;
}

// ------------------------------------------------------ failure and cancel

/// A device store that cannot write.
#[derive(Default)]
struct BrokenStore;

#[async_trait::async_trait]
impl webex_meetings::DeviceStore for BrokenStore {
    async fn load(
        &self,
        _: &webex_meetings::DeviceKey,
    ) -> Result<Option<webex_meetings::Device>, webex_meetings::StoreError> {
        Ok(None)
    }
    async fn save(
        &self,
        _: &webex_meetings::DeviceKey,
        _: &webex_meetings::Device,
    ) -> Result<(), webex_meetings::StoreError> {
        Err(webex_meetings::StoreError::Unavailable("read-only".into()))
    }
    async fn remove(
        &self,
        _: &webex_meetings::DeviceKey,
    ) -> Result<(), webex_meetings::StoreError> {
        Ok(())
    }
}

/// Device answers point Mercury at a socket that never answers, so
/// `register()` stops at its Mercury step after WDM created the device.
async fn mercury_black_hole(cloud: &Cloud) {
    let hole = crate::support::black_hole().await;
    cloud.rewrite(move |seen, answer| {
        if seen.method == "GET"
            || !seen.uri.starts_with("/wdm/api/v1/devices")
            || answer.status >= 300
        {
            return None;
        }
        let mut device = answer.json();
        device["webSocketUrl"] = json!(format!("ws://{hole}/mercury/x"));
        Some(Answer::empty(answer.status).with_json(&device))
    });
}

async fn device_count(cloud: &Cloud, token: &str) -> usize {
    crate::support::devices(&cloud.server, token).await.len()
}

/// A registration that fails after WDM created its device, with a store
/// that cannot record the device, deletes it.
#[tokio::test]
async fn a_failed_registration_whose_device_cannot_be_recorded_deletes_it() {
    let cloud = Cloud::start().await;
    mercury_black_hole(&cloud).await;
    let token = cloud
        .server
        .token_for("unrecorded@example.com")
        .await
        .unwrap();
    let meetings = Webex::init(
        cloud
            .config(&token)
            .device_store(BrokenStore)
            .build()
            .unwrap(),
    )
    .meetings();
    let e = within(meetings.register()).await.unwrap_err();
    assert_eq!(e.step(), Some(webex_meetings::Step::Mercury), "{e:?}");
    assert_eq!(device_count(&cloud, &token).await, 0);
    assert!(meetings.device().is_none());
}

/// Drops `meetings.register()` once `reached()` holds, then checks what
/// is left: no registration, no current device.
async fn drop_register_when(meetings: &Meetings, reached: impl Fn() -> bool) {
    let dropped = within(async {
        tokio::select! {
            r = meetings.register() => panic!("register() finished: {r:?}"),
            () = eventually(reached) => {}
        }
    });
    dropped.await;
    assert!(!meetings.is_registered());
    assert!(meetings.device().is_none());
    assert_eq!(
        meetings.status().state,
        webex_meetings::RegistrationState::Unregistered
    );
}

fn slow() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

/// Step timeouts long enough that a held request is dropped, not timed out.
fn patient_timeouts() -> webex_meetings::Timeouts {
    webex_meetings::Timeouts {
        catalog: slow(),
        people: slow(),
        device: slow(),
        mercury: slow(),
        ..quick_timeouts()
    }
}

fn patient(cloud: &Cloud, token: &str) -> webex_meetings::WebexConfigBuilder {
    cloud.config(token).timeouts(patient_timeouts())
}

/// Dropped while the catalog is asked: nothing was created.
#[tokio::test]
async fn register_dropped_at_the_catalog_leaves_nothing() {
    let cloud = Cloud::start().await;
    cloud.delay(|s| s.uri.contains("/u2c/api/v1/"), slow(), true);
    let token = cloud.server.token_for("c1@example.com").await.unwrap();
    let meetings = Webex::init(patient(&cloud, &token).build().unwrap()).meetings();
    drop_register_when(&meetings, || !cloud.requests("GET", "/catalog").is_empty()).await;
    cloud.no_delays();
    assert_eq!(device_count(&cloud, &token).await, 0);
    within(meetings.register()).await.unwrap();
    within(meetings.unregister()).await.unwrap();
    assert_eq!(device_count(&cloud, &token).await, 0);
}

/// Dropped while the device POST's answer is on its way: the device
/// exists, but its URL never reached the client. The state is clean and
/// the next `register()` works (this one device is what no client can
/// clean up; the quota reclaim handles it).
#[tokio::test]
async fn register_dropped_during_the_device_post_leaves_a_clean_state() {
    let cloud = Cloud::start().await;
    cloud.delay(|s| is(s, "POST", "/wdm/api/v1/devices"), slow(), false);
    let token = cloud.server.token_for("c2@example.com").await.unwrap();
    let meetings = Webex::init(patient(&cloud, &token).build().unwrap()).meetings();
    drop_register_when(&meetings, || {
        !cloud.requests("POST", "/wdm/api/v1/devices").is_empty()
    })
    .await;
    cloud.no_delays();
    within(meetings.register()).await.unwrap();
    assert!(meetings.is_registered());
    within(meetings.unregister()).await.unwrap();
}

/// Dropped at the Mercury step, after WDM created the device: the device
/// is recorded, reused by the next `register()` (no second POST), and
/// deleted by the next `unregister()`.
#[tokio::test]
async fn register_dropped_at_mercury_keeps_the_device_recorded() {
    let cloud = Cloud::start().await;
    mercury_black_hole(&cloud).await;
    let token = cloud.server.token_for("c3@example.com").await.unwrap();
    let meetings = Webex::init(patient(&cloud, &token).build().unwrap()).meetings();
    let state = || meetings.status().state;
    drop_register_when(&meetings, || {
        state() == webex_meetings::RegistrationState::Registering(webex_meetings::Step::Mercury)
    })
    .await;
    assert_eq!(device_count(&cloud, &token).await, 1);
    // The next unregister() deletes what the dropped register() left.
    within(meetings.unregister()).await.unwrap();
    assert_eq!(device_count(&cloud, &token).await, 0);
}

/// Dropped at the Mercury step, then registered again: the recorded
/// device is refreshed, not a second one created.
#[tokio::test]
async fn register_dropped_at_mercury_then_register_reuses_the_device() {
    let cloud = Cloud::start().await;
    let token = cloud.server.token_for("c4@example.com").await.unwrap();
    // The warm start's early socket tries the remembered (dead) one first.
    let timeouts = webex_meetings::Timeouts {
        mercury: std::time::Duration::from_secs(2),
        ..patient_timeouts()
    };
    let meetings =
        Webex::init(patient(&cloud, &token).timeouts(timeouts).build().unwrap()).meetings();
    let hole = crate::support::black_hole().await;
    let blocked = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let b = blocked.clone();
    cloud.rewrite(move |seen, answer| {
        if !b.load(std::sync::atomic::Ordering::SeqCst) || !is(seen, "POST", "/wdm/api/v1/devices")
        {
            return None;
        }
        let mut device = answer.json();
        device["webSocketUrl"] = json!(format!("ws://{hole}/mercury/x"));
        Some(Answer::empty(answer.status).with_json(&device))
    });
    drop_register_when(&meetings, || {
        meetings.status().state
            == webex_meetings::RegistrationState::Registering(webex_meetings::Step::Mercury)
    })
    .await;
    blocked.store(false, std::sync::atomic::Ordering::SeqCst);
    // The PUT answer names the real socket again.
    within(meetings.register()).await.unwrap();
    assert_eq!(cloud.requests("POST", "/wdm/api/v1/devices").len(), 1);
    assert_eq!(device_count(&cloud, &token).await, 1);
    within(meetings.unregister()).await.unwrap();
    assert_eq!(device_count(&cloud, &token).await, 0);
}

/// Dropped while the device DELETE is held: the registration is over
/// anyway, and the next `unregister()` deletes the device.
#[tokio::test]
async fn unregister_dropped_during_the_delete_is_finished_by_the_next() {
    let cloud = Cloud::start().await;
    let (_webex, meetings) = cloud.user("c5@example.com").await;
    let token = cloud.server.token_for("c5@example.com").await.unwrap();
    cloud.delay(
        |s| is(s, "DELETE", "") && s.uri.starts_with("/wdm/"),
        slow(),
        true,
    );
    within(async {
        tokio::select! {
            r = meetings.unregister() => panic!("unregister() finished: {r:?}"),
            () = eventually(|| !cloud.requests("DELETE", "/wdm/api/v1/devices/").is_empty()) => {}
        }
    })
    .await;
    assert!(!meetings.is_registered());
    assert!(meetings.device().is_none());
    cloud.no_delays();
    assert_eq!(device_count(&cloud, &token).await, 1);
    within(meetings.unregister()).await.unwrap();
    assert_eq!(device_count(&cloud, &token).await, 0);
}

/// Dropped while Mercury closes (before the DELETE): the same.
#[tokio::test]
async fn unregister_dropped_before_the_delete_is_finished_by_the_next() {
    let cloud = Cloud::start().await;
    let (_webex, meetings) = cloud.user("c6@example.com").await;
    let token = cloud.server.token_for("c6@example.com").await.unwrap();
    // Dropped at its first await, whatever that is.
    let mut unregister = Box::pin(meetings.unregister());
    assert!(futures::poll!(unregister.as_mut()).is_pending());
    drop(unregister);
    assert!(!meetings.is_registered());
    assert!(meetings.device().is_none());
    within(meetings.unregister()).await.unwrap();
    assert_eq!(device_count(&cloud, &token).await, 0);
}

// ------------------------------------------- warm restart after unregister

/// A fresh SDK on `path` (the same file across "restarts").
fn on_file(cloud: &Cloud, token: &str, path: &std::path::Path) -> Meetings {
    Webex::init(
        cloud
            .config(token)
            .device_store(webex_meetings::FileDeviceStore::new(path))
            .build()
            .unwrap(),
    )
    .meetings()
}

/// Issue 19 item 10: after a clean `unregister()` the store still knows
/// the user and the catalog; the next start only creates the device (no
/// catalog, no `people/me`) and still reports who registered.
#[tokio::test]
async fn a_restart_after_unregister_reuses_the_user_and_catalog() {
    let cloud = Cloud::start().await;
    let token = cloud.server.token_for("rewarm@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");

    let first = on_file(&cloud, &token, &path);
    let before = within(first.register()).await.unwrap();
    within(first.unregister()).await.unwrap();
    drop(first);
    assert_eq!(device_count(&cloud, &token).await, 0);

    let already = cloud.seen().len();
    let second = on_file(&cloud, &token, &path);
    let report = within(second.register()).await.unwrap();
    let after: Vec<Seen> = cloud.seen().into_iter().skip(already).collect();
    let uris: Vec<String> = after
        .iter()
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    assert!(
        !after.iter().any(|s| s.uri.contains("/catalog")),
        "no catalog request: {uris:#?}"
    );
    assert!(
        !after.iter().any(|s| s.uri.contains("people/me")),
        "no people/me request: {uris:#?}"
    );
    assert_eq!(
        after.iter().filter(|s| is(s, "POST", "/devices")).count(),
        1,
        "{uris:#?}"
    );
    assert!(!report.reused_device);
    assert_ne!(report.device.url, before.device.url);
    assert_eq!(
        report.person.as_ref().map(|p| &p.id),
        before.person.as_ref().map(|p| &p.id)
    );
    assert!(second.status().connected);
    assert_eq!(device_count(&cloud, &token).await, 1);
    within(second.unregister()).await.unwrap();
    assert_eq!(device_count(&cloud, &token).await, 0);
}

/// The same file with another person's token: the device WDM makes says
/// whose it is, so it is deleted and the start is cold (people/me names
/// the new user, whose device is filed under them).
#[tokio::test]
async fn a_restart_after_unregister_with_another_users_token_starts_cold() {
    let cloud = Cloud::start().await;
    let alice = cloud
        .server
        .token_for("alice-rw@example.com")
        .await
        .unwrap();
    let bob = cloud.server.token_for("bob-rw@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");

    let first = on_file(&cloud, &alice, &path);
    let a = within(first.register()).await.unwrap();
    within(first.unregister()).await.unwrap();
    drop(first);

    let already = cloud.seen().len();
    let second = on_file(&cloud, &bob, &path);
    let report = within(second.register()).await.unwrap();
    let after: Vec<Seen> = cloud.seen().into_iter().skip(already).collect();
    assert!(after.iter().any(|s| s.uri.contains("people/me")));
    let b = report.person.clone().expect("bob's people/me");
    assert_ne!(Some(&b.id), a.person.as_ref().map(|p| &p.id));
    assert_eq!(device_count(&cloud, &alice).await, 0);
    assert_eq!(device_count(&cloud, &bob).await, 1);
    assert!(second.status().connected);
    within(second.unregister()).await.unwrap();
    assert_eq!(device_count(&cloud, &bob).await, 0);
}

// ------------------------------------------------- meetingInfo site redirect

/// Answers meetingInfo requests that `redirect` picks with the appapi's
/// site redirect: `404 {"code":404100,"data":{"siteUrl":site}}`.
fn site_redirect(
    cloud: &Cloud,
    site: String,
    redirect: impl Fn(&Seen) -> bool + Send + Sync + 'static,
) {
    cloud.rewrite(move |seen, _| {
        if !is(seen, "POST", "/meetingInfo") || !redirect(seen) {
            return None;
        }
        Some(Answer::empty(404).with_json(&json!({
            "code": 404100,
            "message": "The meeting is on another site",
            "data": {"siteUrl": site},
        })))
    });
}

/// The appapi's `404` + `code: 404100` names the meeting's Webex site: the
/// SDK asks that site (a trusted host: with the token) and uses its answer.
#[tokio::test]
async fn a_meeting_info_site_redirect_is_followed() {
    let cloud = Cloud::start().await;
    let site = format!("{}{CLUSTER_B}/wbxappapi/v1/meetingInfo", cloud.base);
    site_redirect(&cloud, site, |seen| !seen.uri.starts_with(CLUSTER_B));
    let (_webex, meetings) = cloud.user("site@example.com").await;
    let meeting = within(meetings.create("site@example.com")).await.unwrap();
    let infos = cloud.requests("POST", "/meetingInfo");
    assert_eq!(infos.len(), 2, "{infos:?}");
    assert!(infos[1].uri.starts_with(CLUSTER_B), "{}", infos[1].uri);
    assert!(infos[1].headers.contains_key("authorization"));
    assert_eq!(infos[1].body["sipUrl"], infos[0].body["sipUrl"]);
    assert!(meeting.meeting_info().is_some());
}

/// A site outside the catalog and the allowed domains is asked without the
/// token.
#[tokio::test]
async fn a_meeting_info_site_redirect_to_a_foreign_site_gets_no_token() {
    let cloud = Cloud::start().await;
    let foreign = cloud.base.replace("127.0.0.1", "localhost");
    site_redirect(
        &cloud,
        format!("{foreign}/wbxappapi/v1/meetingInfo"),
        |seen| {
            !seen
                .headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .is_some_and(|h| h.starts_with("localhost"))
        },
    );
    let (_webex, meetings) = cloud.user("site-foreign@example.com").await;
    within(meetings.create("site-foreign@example.com"))
        .await
        .unwrap();
    let infos = cloud.requests("POST", "/meetingInfo");
    assert_eq!(infos.len(), 2, "{infos:?}");
    let at_site = &infos[1];
    assert!(
        at_site
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.starts_with("localhost")),
        "{at_site:?}"
    );
    assert!(
        !at_site.headers.contains_key("authorization"),
        "{at_site:?}"
    );
}

/// Site redirects are bounded: a site that redirects again and again is
/// given up after two hops, and `create()` goes on (joining by address).
#[tokio::test]
async fn meeting_info_site_redirects_are_bounded() {
    let cloud = Cloud::start().await;
    let site = format!("{}{CLUSTER_B}/wbxappapi/v1/meetingInfo", cloud.base);
    site_redirect(&cloud, site, |_| true);
    let (_webex, meetings) = cloud.user("site-loop@example.com").await;
    let meeting = within(meetings.create("site-loop@example.com"))
        .await
        .unwrap();
    assert_eq!(cloud.requests("POST", "/meetingInfo").len(), 3);
    assert!(meeting.meeting_info().is_none());
}
