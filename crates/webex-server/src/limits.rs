//! Request rate limits: device registration per token, and the token
//! endpoints per OAuth client, guest issuer or peer address.
//!
//! Each limit is a GCRA (generic cell rate algorithm): [`governor`]'s keyed
//! rate limiter, one "theoretical arrival time" per key. A key whose arrival
//! time has passed has a full burst again, exactly as if it were absent, so
//! idle keys are forgotten whenever a shard fills up; memory stays bounded
//! by [`RateLimits::max_keys`]. Keys are hashed with a per-process random
//! SipHash key, so neither tokens nor client ids are kept in memory and an
//! attacker cannot aim collisions.
//!
//! A claimed identity (an OAuth client id, a guest issuer, a bearer token)
//! costs nothing to make up, so every limited request also counts against
//! its peer address ([`RateLimits::per_peer`]): rotating made-up ids does not
//! escape the limit. Wrong admin tokens count against their peer address
//! ([`RateLimits::admin_failures`]); once that is spent, the admin API
//! answers 429 to that address for every token but the right one (so an
//! attacker sharing the operator's address cannot lock the operator out;
//! this lets a locked-out address keep guessing, one 429 per guess, so the
//! admin token must be long and random: the server warns at startup when
//! it is shorter than 32 characters).
//!
//! Rejections answer 429 with an integer `Retry-After` and the JSON error
//! body (the [`crate::http`] middleware renders it).
//!
//! Nothing here looks at request paths: each service's router attaches
//! [`layer`] with the route's [`Class`] to the routes it limits
//! (`route_layer`), so a route's limit is declared beside the route. The
//! server's [`Limiters`] reach those layers through the request extensions.
//!
//! ```
//! use std::time::Duration;
//! use webex_server::limits::{Gcra, RateLimit};
//!
//! let limit: RateLimit = "2:3".parse()?; // 2 per second, bursts of 3
//! let gcra = Gcra::new(limit, 1024);
//! let t0 = Duration::ZERO;
//! assert!((0..3).all(|_| gcra.check(b"token", t0).is_ok()));
//! assert!(gcra.check(b"token", t0).is_err());
//! assert!(gcra.check(b"another token", t0).is_ok());
//! assert!(gcra.check(b"token", t0 + Duration::from_millis(500)).is_ok());
//! # Ok::<(), webex_server::limits::ParseRateLimitError>(())
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::{FromFnLayer, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::future::BoxFuture;

use crate::error::ApiError;

/// Requests per second with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second (> 0).
    pub per_second: f64,
    /// Requests accepted at once from a rested key (≥ 1).
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` sustained, `burst` at once.
    ///
    /// ```
    /// let l = webex_server::limits::RateLimit::new(20.0, 40);
    /// assert_eq!(l.to_string(), "20:40");
    /// ```
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.per_second, self.burst)
    }
}

/// Why a rate limit did not parse. Retrying the same text never helps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseRateLimitError {
    /// The rate is not a positive finite number.
    #[error("rate `{0}` is not a positive number of requests per second")]
    Rate(String),
    /// The burst is not a positive integer.
    #[error("burst `{0}` is not a positive integer")]
    Burst(String),
}

impl FromStr for RateLimit {
    type Err = ParseRateLimitError;

    /// `PER_SECOND[:BURST]`; the burst defaults to twice the rate (at least 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let per_second: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| ParseRateLimitError::Rate(rate.to_owned()))?;
        let burst = match burst {
            Some(b) => b
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| ParseRateLimitError::Burst(b.to_owned()))?,
            None => ((per_second * 2.0).ceil() as u32).max(1),
        };
        Ok(Self { per_second, burst })
    }
}

/// Which requests are limited, and how much memory the limiters may use.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// `POST /wdm/api/v1/devices` and `PUT /wdm/api/v1/devices/{id}`, per
    /// bearer token. `None`: unlimited.
    pub registrations: Option<RateLimit>,
    /// `/v1/access_token`, `/idb/oauth2/v1/access_token` (per OAuth client
    /// id) and `/v1/jwt/login` (per guest issuer); per peer address when the
    /// request names neither. `None`: unlimited.
    pub token_endpoints: Option<RateLimit>,
    /// Meeting joins (`POST {locus}/loci/call` and
    /// `POST {locus}/loci/{id}/participant`), per bearer token. `None`:
    /// unlimited.
    pub meeting_joins: Option<RateLimit>,
    /// `POST /wbxappapi/v1/meetingInfo` lookups, per bearer token (the SDK
    /// asks once per join). `None`: unlimited.
    pub meeting_info: Option<RateLimit>,
    /// Every request limited above, per peer address as well, so that
    /// made-up client ids, issuers or tokens cannot dodge their limit.
    /// `None`: not limited per address.
    pub per_peer: Option<RateLimit>,
    /// Wrong admin tokens per peer address; when spent, the admin API
    /// answers 429 to that address until it is replenished. `None`: not
    /// limited.
    pub admin_failures: Option<RateLimit>,
    /// Most keys each limiter remembers.
    pub max_keys: usize,
}

impl RateLimits {
    /// No limits at all (benchmarks: `webex serve --rate-limit off`).
    pub fn off() -> Self {
        Self {
            registrations: None,
            token_endpoints: None,
            meeting_joins: None,
            meeting_info: None,
            per_peer: None,
            admin_failures: None,
            max_keys: 0,
        }
    }

    /// Whether any limit is on.
    pub fn is_on(&self) -> bool {
        self.registrations.is_some()
            || self.token_endpoints.is_some()
            || self.meeting_joins.is_some()
            || self.meeting_info.is_some()
            || self.per_peer.is_some()
            || self.admin_failures.is_some()
    }
}

impl Default for RateLimits {
    /// 20 registrations/s with bursts of 40 per token (a client registers
    /// once per session, the JS SDK retries at most a few times); 10 token
    /// requests/s with bursts of 50 per client; 5 meeting joins/s and 5
    /// meetingInfo lookups/s with bursts of 20 per token; 100 of any of them per second with bursts of
    /// 200 per peer address; 10 wrong admin tokens, then one every 5 s, per
    /// peer address; 100 000 keys each.
    fn default() -> Self {
        Self {
            registrations: Some(RateLimit::new(20.0, 40)),
            token_endpoints: Some(RateLimit::new(10.0, 50)),
            meeting_joins: Some(RateLimit::new(5.0, 20)),
            meeting_info: Some(RateLimit::new(5.0, 20)),
            per_peer: Some(RateLimit::new(100.0, 200)),
            admin_failures: Some(RateLimit::new(0.2, 10)),
            max_keys: 100_000,
        }
    }
}

/// Shards of a limiter, so a reset on overflow forgets a sixteenth of the
/// keys, not all of them.
const SHARDS: usize = 16;

/// A governor clock read from the times [`Gcra::check`] is given, so that
/// callers (and tests) choose the time base. Monotonic: an earlier `now`
/// from a slower thread never moves it back.
#[derive(Debug, Default, Clone)]
struct SuppliedClock {
    nanos: Arc<AtomicU64>,
}

impl governor::clock::Clock for SuppliedClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

type Keyed = governor::RateLimiter<
    u64,
    governor::state::keyed::DashMapStateStore<u64>,
    SuppliedClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

/// A keyed GCRA limiter with bounded memory: [`governor`]'s keyed rate
/// limiter over hashed keys, in shards of at most `max_keys / 16` keys each.
pub struct Gcra {
    quota: governor::Quota,
    /// Most keys per shard.
    shard_cap: usize,
    hasher: RandomState,
    clock: SuppliedClock,
    shards: Vec<RwLock<Keyed>>,
}

impl std::fmt::Debug for Gcra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gcra")
            .field("quota", &self.quota)
            .field("keys", &self.len())
            .finish()
    }
}

impl Gcra {
    /// A limiter for `limit` remembering at most about `max_keys` keys.
    pub fn new(limit: RateLimit, max_keys: usize) -> Self {
        let interval = Duration::from_nanos((1e9 / limit.per_second).max(1.0) as u64);
        let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = governor::Quota::with_period(interval)
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let clock = SuppliedClock::default();
        Self {
            quota,
            shard_cap: max_keys.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| RwLock::new(Self::limiter(quota, &clock)))
                .collect(),
            clock,
        }
    }

    fn limiter(quota: governor::Quota, clock: &SuppliedClock) -> Keyed {
        governor::RateLimiter::new(quota, Default::default(), clock.clone())
    }

    /// Counts a request of `key` at `now` (time since an arbitrary origin,
    /// the same for every call). `Err(wait)`: rejected; retry after `wait`.
    pub fn check(&self, key: &[u8], now: Duration) -> Result<(), Duration> {
        let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        self.clock.nanos.fetch_max(now_ns, Ordering::Relaxed);
        let h = self.hasher.hash_one(key);
        let shard = &self.shards[(h as usize) % SHARDS];
        {
            let limiter = shard.read().unwrap_or_else(|p| p.into_inner());
            if limiter.len() >= self.shard_cap {
                // Rested keys are as good as absent: forget them.
                limiter.retain_recent();
            }
            if limiter.len() < self.shard_cap {
                return limiter
                    .check_key(&h)
                    .map_err(|not_until| not_until.wait_time_from(self.clock.now_instant()));
            }
        }
        // Every key of the shard is busy: forget the shard, which at worst
        // hands its keys a fresh burst. Memory stays bounded either way.
        let mut limiter = shard.write().unwrap_or_else(|p| p.into_inner());
        if limiter.len() >= self.shard_cap {
            *limiter = Self::limiter(self.quota, &self.clock);
        }
        limiter
            .check_key(&h)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now_instant()))
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SuppliedClock {
    fn now_instant(&self) -> Duration {
        governor::clock::Clock::now(self)
    }
}

/// The limiters of one server, shared by every route's [`layer`] through
/// the request extensions.
#[derive(Debug)]
pub struct Limiters {
    origin: Instant,
    registrations: Option<Gcra>,
    token_endpoints: Option<Gcra>,
    meeting_joins: Option<Gcra>,
    meeting_info: Option<Gcra>,
    per_peer: Option<Gcra>,
    admin_failures: Option<Gcra>,
    /// Peers whose admin failures are spent, until when.
    admin_blocked: Mutex<HashMap<IpAddr, Instant>>,
    /// Hash of the admin token, which passes a lockout.
    admin_token: Option<crate::store::SecretHash>,
    max_keys: usize,
    body_limit: usize,
}

impl Limiters {
    /// Limiters for `limits`; `body_limit` bounds the token-endpoint bodies
    /// read to find the client id; `admin_token` passes an admin lockout.
    /// `None` when every limit is off.
    pub fn new(
        limits: &RateLimits,
        body_limit: usize,
        admin_token: Option<&str>,
    ) -> Option<Arc<Self>> {
        limits.is_on().then(|| {
            Arc::new(Self {
                origin: Instant::now(),
                registrations: limits.registrations.map(|l| Gcra::new(l, limits.max_keys)),
                token_endpoints: limits
                    .token_endpoints
                    .map(|l| Gcra::new(l, limits.max_keys)),
                meeting_joins: limits.meeting_joins.map(|l| Gcra::new(l, limits.max_keys)),
                meeting_info: limits.meeting_info.map(|l| Gcra::new(l, limits.max_keys)),
                per_peer: limits.per_peer.map(|l| Gcra::new(l, limits.max_keys)),
                admin_failures: limits.admin_failures.map(|l| Gcra::new(l, limits.max_keys)),
                admin_blocked: Mutex::new(HashMap::new()),
                admin_token: admin_token.map(crate::auth::hash_secret),
                max_keys: limits.max_keys,
                body_limit,
            })
        })
    }

    /// The 429 answer when `key` is over its limit.
    fn rejection(&self, gcra: &Gcra, class: &'static str, key: &[u8]) -> Option<Response> {
        gcra.check(key, self.origin.elapsed())
            .err()
            .map(|wait| too_many(class, wait))
    }

    /// The 429 answer when `peer` is over its per-address limit, unless the
    /// request's own key already was the address.
    fn peer_rejection(&self, class: &'static str, peer: &str, key: &[u8]) -> Option<Response> {
        let gcra = self.per_peer.as_ref()?;
        let peer_key = format!("ip:{peer}");
        if key == peer_key.as_bytes() {
            return None;
        }
        self.rejection(gcra, class, peer_key.as_bytes())
    }

    /// Until when `peer` may not try admin tokens.
    fn admin_blocked(&self, peer: IpAddr) -> Option<Duration> {
        let map = self.admin_blocked.lock().unwrap_or_else(|p| p.into_inner());
        let until = *map.get(&peer)?;
        until.checked_duration_since(Instant::now())
    }

    /// Whether `req` carries the admin token (compared in constant time).
    fn has_admin_token(&self, req: &Request) -> bool {
        let Some(expected) = &self.admin_token else {
            return false;
        };
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                crate::auth::hashes_equal(
                    &crate::auth::hash_secret(crate::auth::strip_bearer(v)),
                    expected,
                )
            })
    }

    /// Counts a wrong admin token from `peer`.
    fn admin_failed(&self, peer: IpAddr) {
        let Some(gcra) = &self.admin_failures else {
            return;
        };
        if let Err(wait) = gcra.check(peer.to_string().as_bytes(), self.origin.elapsed()) {
            let now = Instant::now();
            let mut map = self.admin_blocked.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= self.max_keys.max(1) {
                map.retain(|_, until| *until > now);
            }
            if map.len() < self.max_keys.max(1) {
                map.insert(peer, now + wait);
            }
        }
    }
}

fn too_many(class: &'static str, wait: Duration) -> Response {
    metrics::counter!("webex_rate_limited_total", "class" => class).increment(1);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::rate_limited(secs.max(1)).into_response()
}

/// What a route's requests count against. Each service's router gives
/// every limited route its class with [`layer`]; a route without one is
/// not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Class {
    /// Device registrations and refreshes, per bearer token
    /// ([`RateLimits::registrations`]).
    Registration,
    /// Meeting joins, per bearer token ([`RateLimits::meeting_joins`]).
    MeetingJoin,
    /// meetingInfo lookups, per bearer token ([`RateLimits::meeting_info`]).
    MeetingInfo,
    /// OAuth token requests, per client id from HTTP Basic or the form body
    /// ([`RateLimits::token_endpoints`]).
    OAuthToken,
    /// Guest JWT logins, per issuer ([`RateLimits::token_endpoints`]).
    GuestLogin,
    /// The admin API: wrong admin tokens per peer address
    /// ([`RateLimits::admin_failures`]).
    Admin,
}

/// What a [`layer`] runs on each request.
pub type Enforce = fn(State<Class>, Request, Next) -> BoxFuture<'static, Response>;

/// The route layer counting every request of the routes it wraps against
/// `class`'s limits (and the per-peer limit). The server's
/// [`Limiters`] travel in the request's extensions
/// ([`crate::http::router`] puts them there); without them (every limit
/// off) requests pass untouched.
///
/// Attach it with `route_layer`, to the method router of one route or to a
/// router whose every route it limits:
///
/// ```
/// use axum::Router;
/// use axum::routing::{get, post};
/// use webex_server::limits::{self, Class};
///
/// let app: Router = Router::new().route(
///     "/wdm/api/v1/devices",
///     get(|| async { "not limited" })
///         .merge(post(|| async { "limited" }).route_layer(limits::layer(Class::Registration))),
/// );
/// ```
pub fn layer(class: Class) -> FromFnLayer<Enforce, Class, (State<Class>, Request)> {
    let run: Enforce = |State(class), req, next| Box::pin(enforce(class, req, next));
    axum::middleware::from_fn_with_state(class, run)
}

/// Counts `req` against `class`'s limits, unless the server has none.
async fn enforce(class: Class, req: Request, next: Next) -> Response {
    let Some(limiters) = req.extensions().get::<Arc<Limiters>>().cloned() else {
        return next.run(req).await;
    };
    // An IPv6 /64 is one peer, as for the connection caps.
    let peer_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| crate::connections::peer_key(c.0.ip()));
    let peer = peer_ip.map(|ip| ip.to_string()).unwrap_or_default();
    match class {
        Class::Admin => {
            let Some(ip) = peer_ip else {
                return next.run(req).await;
            };
            if let Some(wait) = limiters.admin_blocked(ip)
                && !limiters.has_admin_token(&req)
            {
                return too_many("admin", wait);
            }
            let res = next.run(req).await;
            if res.status() == axum::http::StatusCode::UNAUTHORIZED {
                limiters.admin_failed(ip);
            }
            res
        }
        Class::Registration | Class::MeetingJoin | Class::MeetingInfo => {
            let (gcra, label) = match class {
                Class::Registration => (&limiters.registrations, "registration"),
                Class::MeetingJoin => (&limiters.meeting_joins, "meeting_join"),
                _ => (&limiters.meeting_info, "meeting_info"),
            };
            if let Some(gcra) = gcra {
                let key = match req.headers().get(header::AUTHORIZATION) {
                    Some(v) => [
                        b"token:".as_slice(),
                        crate::auth::strip_bearer(v.to_str().unwrap_or("")).as_bytes(),
                    ]
                    .concat(),
                    None => format!("ip:{peer}").into_bytes(),
                };
                if let Some(res) = limiters.rejection(gcra, label, &key) {
                    return res;
                }
                if let Some(res) = limiters.peer_rejection(label, &peer, &key) {
                    return res;
                }
            }
            next.run(req).await
        }
        Class::GuestLogin => {
            if let Some(gcra) = &limiters.token_endpoints {
                let key = match req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| jwt_issuer(crate::auth::strip_bearer(v)))
                {
                    Some(iss) => format!("iss:{iss}"),
                    None => format!("ip:{peer}"),
                };
                if let Some(res) = limiters.rejection(gcra, "token", key.as_bytes()) {
                    return res;
                }
                if let Some(res) = limiters.peer_rejection("token", &peer, key.as_bytes()) {
                    return res;
                }
            }
            next.run(req).await
        }
        Class::OAuthToken => {
            let Some(gcra) = &limiters.token_endpoints else {
                return next.run(req).await;
            };
            let (parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, limiters.body_limit).await else {
                return ApiError::from_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE)
                    .into_response();
            };
            let key = match basic_client_id(&parts.headers).or_else(|| form_client_id(&bytes)) {
                Some(id) => format!("client:{id}"),
                None => format!("ip:{peer}"),
            };
            if let Some(res) = limiters.rejection(gcra, "token", key.as_bytes()) {
                return res;
            }
            if let Some(res) = limiters.peer_rejection("token", &peer, key.as_bytes()) {
                return res;
            }
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// The client id of an HTTP Basic `Authorization` header.
fn basic_client_id(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    v.get(..6).filter(|p| p.eq_ignore_ascii_case("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v[6..].trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, _secret) = text.split_once(':')?;
    Some(id.to_owned())
}

/// The `client_id` field of a form body.
fn form_client_id(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
}

/// The unverified `iss` claim of a JWT (only a rate-limit key: the login
/// handler verifies the signature).
fn jwt_issuer(jwt: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    if jwt.len() > 8 * 1024 {
        return None;
    }
    let payload = jwt.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Iss>(&raw).ok()?.iss
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn burst_then_sustained_rate() {
        let g = Gcra::new(RateLimit::new(10.0, 5), 100);
        let t0 = Duration::from_secs(1);
        for _ in 0..5 {
            assert!(g.check(b"k", t0).is_ok());
        }
        let wait = g.check(b"k", t0).expect_err("burst spent");
        assert_eq!(wait, 100 * MS);
        assert!(g.check(b"k", t0 + 99 * MS).is_err());
        assert!(g.check(b"k", t0 + 100 * MS).is_ok());
        assert!(g.check(b"k", t0 + 100 * MS).is_err());
        // Rested: a full burst again.
        let later = t0 + Duration::from_secs(10);
        assert!((0..5).all(|_| g.check(b"k", later).is_ok()));
    }

    #[test]
    fn keys_are_independent() {
        let g = Gcra::new(RateLimit::new(1.0, 1), 100);
        assert!(g.check(b"a", Duration::ZERO).is_ok());
        assert!(g.check(b"a", Duration::ZERO).is_err());
        assert!(g.check(b"b", Duration::ZERO).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let g = Gcra::new(RateLimit::new(1.0, 2), 64);
        let t0 = Duration::from_secs(5);
        for i in 0u32..10_000 {
            assert!(g.check(&i.to_le_bytes(), t0).is_ok());
        }
        assert!(g.len() <= 64, "{} keys", g.len());
        // Later, rested keys make room without evicting busy ones.
        let later = t0 + Duration::from_secs(60);
        for i in 0u32..10_000 {
            assert!(g.check(&i.to_le_bytes(), later).is_ok());
        }
        assert!(g.len() <= 64, "{} keys", g.len());
    }

    #[test]
    fn parses_rate_and_burst() {
        assert_eq!("20:40".parse(), Ok(RateLimit::new(20.0, 40)));
        assert_eq!("0.5".parse(), Ok(RateLimit::new(0.5, 1)));
        assert_eq!("3".parse(), Ok(RateLimit::new(3.0, 6)));
        assert!("0".parse::<RateLimit>().is_err());
        assert!("x:1".parse::<RateLimit>().is_err());
        assert!("1:0".parse::<RateLimit>().is_err());
        assert!("nan".parse::<RateLimit>().is_err());
    }

    /// The layer limits the method router it wraps and nothing beside it;
    /// a server without limiters limits nothing.
    #[tokio::test]
    async fn the_layer_limits_only_what_it_wraps() {
        use axum::Router;
        use axum::routing::{get, post};
        use tower::ServiceExt;

        let app = |limiters: Option<Arc<Limiters>>| {
            let app = Router::new().route(
                "/d",
                get(|| async { "read" })
                    .merge(post(|| async { "write" }).route_layer(layer(Class::Registration))),
            );
            match limiters {
                Some(l) => app.layer(axum::Extension(l)),
                None => app,
            }
        };
        let status = |app: Router, method: &'static str| async move {
            let req = Request::builder()
                .method(method)
                .uri("/d")
                .header(header::AUTHORIZATION, "Bearer t")
                .body(Body::empty())
                .expect("request");
            app.oneshot(req)
                .await
                .expect("infallible")
                .status()
                .as_u16()
        };
        let limits = RateLimits {
            registrations: Some(RateLimit::new(0.001, 1)),
            max_keys: 1024,
            ..RateLimits::off()
        };
        let limited = app(Limiters::new(&limits, 1024, None));
        assert_eq!(status(limited.clone(), "POST").await, 200);
        assert_eq!(status(limited.clone(), "POST").await, 429);
        assert_eq!(status(limited.clone(), "GET").await, 200);
        let unlimited = app(None);
        for _ in 0..3 {
            assert_eq!(status(unlimited.clone(), "POST").await, 200);
        }
    }

    #[test]
    fn extracts_keys() {
        let mut h = axum::http::HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode("C123:secret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().expect("header"),
        );
        assert_eq!(basic_client_id(&h).as_deref(), Some("C123"));
        assert_eq!(
            form_client_id(b"grant_type=x&client_id=C%2042").as_deref(),
            Some("C 42")
        );
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"iss":"I9"}"#);
        assert_eq!(jwt_issuer(&format!("h.{payload}.s")).as_deref(), Some("I9"));
        assert_eq!(jwt_issuer("garbage"), None);
    }
}
