//! The HTTP surface: every route, and the middleware every answer passes
//! through (tracking ids, JSON errors, CORS, body limit, tracing, metrics).

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use webex_wire::tracking;

use crate::error::ApiError;
use crate::state::AppState;

/// The request's tracking id: the client's `trackingid` header, or one
/// minted here. Handlers read it from the request extensions.
#[derive(Debug, Clone)]
pub struct TrackingId(pub String);

/// Every route of the server, with its middleware.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let admin_token = state
        .config
        .admin_token
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret);
    let limiters = crate::limits::Limiters::new(&state.config.rate_limits, body_limit, admin_token);
    let app = Router::new()
        .merge(crate::identity::router())
        .merge(crate::catalog::router())
        .merge(crate::devices::router())
        .merge(crate::compat::router())
        .merge(crate::client_logs::router(&state.config))
        .merge(crate::locus::router())
        .merge(crate::media::router())
        .merge(crate::mercury::router())
        .merge(crate::admin::router())
        .merge(crate::ops::router(state.config.metrics_listen.is_none()))
        .route_layer(middleware::from_fn(remember_route))
        .fallback(|| async { ApiError::from_status(axum::http::StatusCode::NOT_FOUND) })
        .layer(DefaultBodyLimit::max(body_limit));
    // For the limit each router attaches to its limited routes
    // (`limits::layer`), which runs inside `track`, so a 429 gets the JSON
    // body and the tracking id.
    let app = match limiters {
        Some(l) => app.layer(axum::Extension(l)),
        None => app,
    };
    // Inside `track` too (JSON bodies for 408/413), outside the limiters
    // (which may read the body).
    let own_body_routes: std::sync::Arc<std::collections::HashMap<String, usize>> =
        std::sync::Arc::new(
            crate::client_logs::body_limits(&state.config)
                .into_iter()
                .collect(),
        );
    let guard = crate::connections::BodyGuard {
        limit: body_limit,
        per_route: std::sync::Arc::clone(&own_body_routes),
        timeout: state.config.connections.body_read_timeout,
    };
    let app = app.layer(middleware::from_fn_with_state(
        guard,
        crate::connections::guard_body,
    ));
    // Outside the guard and the limiters: a quirk's hop reads no body and
    // costs no quota.
    let app = app.layer(middleware::from_fn_with_state(
        state.clone(),
        crate::quirks::apply,
    ));
    // Outside the guard: credentials are checked before it reads a body.
    let body_auth = crate::body_auth::BodyAuth {
        state: state.clone(),
        own_body_routes,
    };
    let app = app.layer(middleware::from_fn_with_state(
        body_auth,
        crate::body_auth::check_before_body,
    ));
    app.layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(cors(&state))
        .with_state(state)
}

/// Assigns the tracking id, echoes it, renders JSON error bodies and records
/// per-route metrics.
pub(crate) async fn track(
    State(_state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(tracking::HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 256)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("webex-server_{}", uuid::Uuid::new_v4()));
    let method = req.method().clone();
    req.extensions_mut().insert(TrackingId(id.clone()));

    let mut res = next.run(req).await;
    let status = res.status();
    let route = res.extensions().get::<MatchedRoute>().map(|r| r.0.clone());
    if status.is_client_error() || status.is_server_error() {
        let err = res
            .extensions_mut()
            .remove::<ApiError>()
            .or_else(|| (!is_rendered(&res)).then(|| ApiError::from_status(status)));
        if let Some(err) = err {
            let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
            let body = serde_json::to_vec(&err.body(&id)).unwrap_or_default();
            let mut fresh = (status, Body::from(body)).into_response();
            fresh.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Some(v) = retry_after {
                fresh.headers_mut().insert(header::RETRY_AFTER, v);
            }
            for (k, v) in res.headers() {
                if k.as_str().starts_with("access-control-")
                    || k == header::VARY
                    || k == header::CONNECTION
                {
                    fresh.headers_mut().append(k.clone(), v.clone());
                }
            }
            res = fresh;
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(tracking::HEADER), v);
    }
    let route = route.unwrap_or_else(|| "unmatched".into());
    metrics::histogram!("webex_http_request_seconds", "method" => method.to_string(), "route" => route.clone(), "status" => status.as_u16().to_string())
        .record(started.elapsed().as_secs_f64());
    res
}

/// Whether a handler rendered the error body itself: JSON (e.g. RFC 6749
/// OAuth errors) or an HTML page meant for a browser (e.g. the OAuth
/// authorize page's errors, which must never redirect).
/// The route template that handled a request, copied into the response so the
/// outer `track` middleware (which runs before routing) can label metrics.
#[derive(Clone)]
pub(crate) struct MatchedRoute(pub(crate) String);

pub(crate) async fn remember_route(
    path: Option<axum::extract::MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    if let Some(p) = path {
        res.extensions_mut()
            .insert(MatchedRoute(p.as_str().to_owned()));
    }
    res
}

fn is_rendered(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"))
}

/// CORS for browser apps on other origins. Preflights get the requested
/// headers echoed (`*` does not cover `Authorization`).
///
/// Never with credentials: the API authenticates with `Authorization`
/// headers that a page sets itself, not with cookies, so no origin needs a
/// browser to attach ambient credentials. Without `--cors-origin`, any
/// origin may call (`*`); with it, only the listed ones.
fn cors(state: &AppState) -> CorsLayer {
    let origins = &state.config.cors_origins;
    let allow_origin = if origins.is_empty() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static(tracking::HEADER),
            header::RETRY_AFTER,
            header::ETAG,
            HeaderName::from_static(crate::quirks::CISCO_LOCATION),
            HeaderName::from_static(crate::locus::ROUTE_TOKEN_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}
