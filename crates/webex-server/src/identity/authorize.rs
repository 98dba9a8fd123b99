//! The authorization endpoint (RFC 6749 §4.1.1): a sign-in-and-consent page
//! (`GET`) and its form (`POST`), which redirects back to the client with a
//! single-use code.
//!
//! Until the client and its exact redirect URI are known good, every error
//! is an HTML page — redirecting to an unverified URI would make this server
//! an open redirector. After that, errors go back to the client as
//! `?error=…&state=…`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use webex_wire::error::ErrorBody;

use super::html::{self, Consent};
use super::{grant, pkce, scope};
use crate::auth::{Caller, authenticate_token, hash_secret, random_secret};
use crate::error::{ApiResult, Form};
use crate::state::AppState;
use crate::store::{AuthCodeRecord, OAuthClientRecord};
use crate::time::now_millis;

/// How long an authorization code stays valid.
const CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// The authorize request (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuthorizeParams {
    /// The integration's client id.
    client_id: Option<String>,
    /// Must be `code`.
    response_type: Option<String>,
    /// Exactly one of the client's registered redirect URIs.
    redirect_uri: Option<String>,
    /// Space-separated scopes; defaults to every scope the client registered.
    scope: Option<String>,
    /// Opaque value echoed back to the client.
    state: Option<String>,
    /// PKCE challenge.
    code_challenge: Option<String>,
    /// `S256` or `plain` (default `plain` when a challenge is sent).
    code_challenge_method: Option<String>,
}

/// The consent form: the authorize request again, plus the sign-in and the
/// decision.
#[derive(Default, Deserialize, ToSchema)]
pub(crate) struct ConsentForm {
    /// As in the authorize request.
    client_id: Option<String>,
    /// As in the authorize request.
    response_type: Option<String>,
    /// As in the authorize request.
    redirect_uri: Option<String>,
    /// As in the authorize request.
    scope: Option<String>,
    /// As in the authorize request.
    state: Option<String>,
    /// As in the authorize request.
    code_challenge: Option<String>,
    /// As in the authorize request.
    code_challenge_method: Option<String>,
    /// The signing-in user's email.
    email: Option<String>,
    /// A personal access token of that user.
    token: Option<String>,
    /// `allow` or `deny`.
    decision: Option<String>,
}

impl ConsentForm {
    fn params(&self) -> AuthorizeParams {
        AuthorizeParams {
            client_id: self.client_id.clone(),
            response_type: self.response_type.clone(),
            redirect_uri: self.redirect_uri.clone(),
            scope: self.scope.clone(),
            state: self.state.clone(),
            code_challenge: self.code_challenge.clone(),
            code_challenge_method: self.code_challenge_method.clone(),
        }
    }
}

/// A request that passed every check.
struct Approved {
    client: OAuthClientRecord,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    challenge: Option<(String, pkce::Method)>,
}

impl Approved {
    /// The hidden form fields that carry the request through the consent form.
    fn hidden(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![
            ("client_id", self.client.id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", self.scope.as_str()),
        ];
        if let Some(s) = &self.state {
            fields.push(("state", s));
        }
        if let Some((c, m)) = &self.challenge {
            fields.push(("code_challenge", c));
            fields.push(("code_challenge_method", m.as_str()));
        }
        fields
    }

    fn consent(
        &self,
        action: &str,
        status: StatusCode,
        email: &str,
        error: Option<&str>,
    ) -> Response {
        html::consent_page(
            status,
            &Consent {
                action,
                client_name: &self.client.name,
                scope: &self.scope,
                hidden: &self.hidden(),
                email,
                error,
            },
        )
    }

    /// A redirect back to the client with `pairs` and the state.
    fn redirect(&self, pairs: &[(&str, &str)]) -> Response {
        redirect_with(&self.redirect_uri, pairs, self.state.as_deref())
    }
}

/// The verdict on an authorize request.
enum Checked {
    /// Every check passed.
    Approved(Approved),
    /// The finished answer: an HTML error page, or a redirect carrying the error.
    Refused(Response),
}

/// Validates an authorize request.
async fn check(state: &AppState, p: &AuthorizeParams) -> ApiResult<Checked> {
    // Echoed into a Location header: keep it small.
    if let Some(s) = p.state.as_deref()
        && s.len() > crate::budget::MAX_STATE_BYTES
    {
        return Ok(Checked::Refused(html::error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "The state parameter is {} bytes long; at most {} are accepted.",
                s.len(),
                crate::budget::MAX_STATE_BYTES
            ),
        )));
    }
    let Some(client_id) = p.client_id.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(Checked::Refused(html::error_page(
            StatusCode::BAD_REQUEST,
            "The request has no client_id.",
        )));
    };
    let Some(client) = state.store.oauth_client(client_id).await? else {
        return Ok(Checked::Refused(html::error_page(
            StatusCode::BAD_REQUEST,
            &format!("No application is registered with client_id “{client_id}”."),
        )));
    };
    let Some(redirect_uri) = p.redirect_uri.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(Checked::Refused(html::error_page(
            StatusCode::BAD_REQUEST,
            "The request has no redirect_uri.",
        )));
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Ok(Checked::Refused(html::error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "The redirect_uri “{redirect_uri}” is not registered for {}.",
                client.name
            ),
        )));
    }
    // From here on the redirect URI is trusted: errors go back to the client.
    let fail = |error: &str, description: &str| {
        Checked::Refused(redirect_with(
            redirect_uri,
            &[("error", error), ("error_description", description)],
            p.state.as_deref(),
        ))
    };
    if p.response_type.as_deref() != Some("code") {
        return Ok(fail(
            "unsupported_response_type",
            "response_type must be `code`",
        ));
    }
    let requested = scope::normalize(p.scope.as_deref().unwrap_or(""));
    let granted = if requested.is_empty() {
        scope::normalize(&client.scopes)
    } else if scope::is_subset(&requested, &client.scopes) {
        requested
    } else {
        return Ok(fail(
            "invalid_scope",
            "a requested scope is not registered for this client",
        ));
    };
    let challenge = match (
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return Ok(fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(c), method) => {
            let Some(method) = pkce::Method::parse(method) else {
                return Ok(fail(
                    "invalid_request",
                    "code_challenge_method must be S256 or plain",
                ));
            };
            if !pkce::well_formed(c) {
                return Ok(fail(
                    "invalid_request",
                    "code_challenge must be 43 to 128 unreserved characters",
                ));
            }
            Some((c.to_owned(), method))
        }
    };
    Ok(Checked::Approved(Approved {
        redirect_uri: redirect_uri.to_owned(),
        client,
        scope: granted,
        state: p.state.clone(),
        challenge,
    }))
}

/// A 302 to `uri` with `pairs` (and `state`) added to its query.
fn redirect_with(uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            "The registered redirect_uri is not a valid URL.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            "The redirect_uri cannot be used in a redirect.",
        );
    };
    let mut res = StatusCode::FOUND.into_response();
    res.headers_mut().insert(header::LOCATION, location);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn show(state: &AppState, action: &str, raw: Option<&str>) -> ApiResult<Response> {
    let params: AuthorizeParams = match serde_urlencoded::from_str(raw.unwrap_or("")) {
        Ok(p) => p,
        Err(e) => {
            let message = format!("The request's query string is malformed: {e}");
            return Ok(html::error_page(StatusCode::BAD_REQUEST, &message));
        }
    };
    Ok(match check(state, &params).await? {
        Checked::Approved(approved) => approved.consent(action, StatusCode::OK, "", None),
        Checked::Refused(res) => res,
    })
}

async fn submit(state: &AppState, action: &str, form: ConsentForm) -> ApiResult<Response> {
    let approved = match check(state, &form.params()).await? {
        Checked::Approved(a) => a,
        Checked::Refused(res) => return Ok(res),
    };
    let email = form.email.as_deref().unwrap_or("").trim();
    match form.decision.as_deref() {
        Some("deny") => return Ok(approved.redirect(&[("error", "access_denied")])),
        Some("allow") => {}
        _ => {
            return Ok(approved.consent(
                action,
                StatusCode::BAD_REQUEST,
                email,
                Some("Choose Allow or Deny."),
            ));
        }
    }
    let Some(caller) = sign_in(state, email, form.token.as_deref().unwrap_or("")).await? else {
        return Ok(approved.consent(
            action,
            StatusCode::UNAUTHORIZED,
            email,
            Some("That email and personal access token do not match a user of this server."),
        ));
    };
    let scope = match grant::consent_scope(&caller, &approved.scope) {
        Ok(s) => s,
        Err(why) => {
            metrics::counter!("webex_oauth_consent_refused_total").increment(1);
            tracing::info!(client = %approved.client.id, person = %caller.person.id, reason = %why, "consent refused");
            return Ok(approved.consent(
                action,
                StatusCode::FORBIDDEN,
                email,
                Some(&why.to_string()),
            ));
        }
    };
    let person = caller.person;
    let family = grant::Family::new(&caller.token);
    let code = random_secret();
    let now = now_millis();
    let record = AuthCodeRecord {
        hash: hash_secret(&code),
        client_id: approved.client.id.clone(),
        person_id: person.id,
        redirect_uri: approved.redirect_uri.clone(),
        scope,
        code_challenge: approved.challenge.as_ref().map(|(c, _)| c.clone()),
        code_challenge_method: approved
            .challenge
            .as_ref()
            .map(|(_, m)| m.as_str().to_owned()),
        created_at: now,
        expires_at: family
            .not_after()
            .map_or(now + CODE_TTL_MS, |end| end.min(now + CODE_TTL_MS)),
        family_id: family.id,
        grant_source: family.source,
    };
    state.store.insert_auth_code(&record).await?;
    tracing::info!(client = %record.client_id, person = %record.person_id, "authorization code issued");
    Ok(approved.redirect(&[("code", &code)]))
}

/// The caller whose token `token` is, if it is valid and belongs to
/// `email`. Which tokens may consent is [`grant::consent_scope`]'s call.
async fn sign_in(state: &AppState, email: &str, token: &str) -> ApiResult<Option<Caller>> {
    if email.is_empty() || token.trim().is_empty() {
        return Ok(None);
    }
    let caller = match authenticate_token(state, token.trim(), now_millis()).await? {
        Ok(c) => c,
        Err(_) => return Ok(None),
    };
    let matches = caller.person.email.eq_ignore_ascii_case(email);
    Ok(matches.then_some(caller))
}

macro_rules! authorize_routes {
    ($get:ident, $post:ident, $path:literal) => {
        /// The sign-in-and-consent page.
        #[utoipa::path(
            get,
            path = $path,
            tag = "oauth",
            params(AuthorizeParams),
            responses(
                (status = 200, description = "Sign-in-and-consent page", content_type = "text/html", body = String),
                (status = 302, description = "Back to the client's redirect_uri with `error` (bad response_type, scope or PKCE parameters) and `state`", headers(("location" = String, description = "redirect_uri?error=…&state=…"))),
                (status = 400, description = "HTML error page: missing or unknown client_id, or a redirect_uri that is not registered (never redirected)", content_type = "text/html", body = String),
                (status = 503, response = crate::openapi::Unavailable),
            )
        )]
        pub(crate) async fn $get(
            State(state): State<AppState>,
            RawQuery(raw): RawQuery,
        ) -> ApiResult<Response> {
            show(&state, $path, raw.as_deref()).await
        }

        /// Signs the user in and records their decision.
        #[utoipa::path(
            post,
            path = $path,
            tag = "oauth",
            request_body(content = ConsentForm, content_type = "application/x-www-form-urlencoded"),
            responses(
                (status = 302, description = "Back to the client's redirect_uri with `code` and `state` (allow), or `error=access_denied` (deny) or another `error`", headers(("location" = String, description = "redirect_uri?code=…&state=…"))),
                (status = 400, description = "HTML: unknown client or unregistered redirect_uri, or no decision; JSON `ErrorBody` when the body is not a form",
                    content((String = "text/html"), (ErrorBody = "application/json"))),
                (status = 401, description = "HTML consent page again: the email and personal access token do not match", content_type = "text/html", body = String),
                (status = 503, response = crate::openapi::Unavailable),
            )
        )]
        pub(crate) async fn $post(
            State(state): State<AppState>,
            Form(form): Form<ConsentForm>,
        ) -> ApiResult<Response> {
            submit(&state, $path, form).await
        }
    };
}

authorize_routes!(show_v1, submit_v1, "/v1/authorize");
authorize_routes!(show_idb, submit_idb, "/idb/oauth2/v1/authorize");
