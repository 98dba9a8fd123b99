//! The token manager: hands out the current access token, refreshes it with
//! at most one refresh in flight, and lets the app swap it at runtime.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::oauth::{self, Exchanged};
use super::{AccessToken, Credentials, CredentialsKind, TokenProvider};
use crate::error::AuthError;
use crate::http::Transport;
use crate::services::Services;

/// A token is refreshed on demand when it expires within this margin.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// A token handed out, with the generation it belongs to (used to tell
/// whether a 401 was for a token someone already replaced).
pub(crate) struct Lease {
    pub(crate) token: SecretString,
    pub(crate) generation: u64,
}

enum Source {
    Static,
    OAuth {
        client_id: String,
        client_secret: SecretString,
        token_url: Option<Url>,
    },
    Jwt(SecretString),
    Provider(Arc<dyn TokenProvider>),
}

struct State {
    token: Option<AccessToken>,
    generation: u64,
    refresh_token: Option<SecretString>,
    refresh_expires_at: Option<SystemTime>,
}

/// Hands out access tokens; see the module docs.
pub(crate) struct TokenManager {
    source: Source,
    state: Mutex<State>,
    refresh_lock: tokio::sync::Mutex<()>,
    transport: Arc<Transport>,
    services: Arc<Services>,
    on_refresh: Box<dyn Fn() + Send + Sync>,
}

impl TokenManager {
    /// A manager for `credentials`; `on_refresh` runs after every token change.
    pub(crate) fn new(
        credentials: Credentials,
        transport: Arc<Transport>,
        services: Arc<Services>,
        on_refresh: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        let (source, state) = match credentials.kind {
            CredentialsKind::Static(token) => (
                Source::Static,
                State {
                    token: Some(token),
                    ..State::empty()
                },
            ),
            CredentialsKind::OAuth(t) => (
                Source::OAuth {
                    client_id: t.client_id,
                    client_secret: t.client_secret,
                    token_url: t.token_url,
                },
                State {
                    token: (!t.access.is_empty()).then_some(t.access),
                    generation: 0,
                    refresh_token: Some(t.refresh_token),
                    refresh_expires_at: t.refresh_expires_at,
                },
            ),
            CredentialsKind::GuestJwt(jwt) => (Source::Jwt(jwt), State::empty()),
            CredentialsKind::Provider(p) => (Source::Provider(p), State::empty()),
        };
        Self {
            source,
            state: Mutex::new(state),
            refresh_lock: tokio::sync::Mutex::new(()),
            transport,
            services,
            on_refresh,
        }
    }

    /// Whether a new token can be obtained without the app's help.
    pub(crate) fn can_refresh(&self) -> bool {
        match &self.source {
            Source::Static => false,
            Source::OAuth { .. } => self.lock().refresh_token.is_some(),
            Source::Jwt(_) | Source::Provider(_) => true,
        }
    }

    /// The generation of the current token (bumped on every change).
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// When the current token expires, if known.
    pub(crate) fn expires_at(&self) -> Option<SystemTime> {
        self.lock().token.as_ref().and_then(|t| t.expires_at)
    }

    /// The current token; obtains or refreshes one first when needed.
    pub(crate) async fn current(&self) -> Result<Lease, AuthError> {
        let (token, generation) = {
            let state = self.lock();
            (state.token.clone(), state.generation)
        };
        let now = SystemTime::now();
        match token {
            None if matches!(self.source, Source::Static) => Err(AuthError::NoCredentials),
            None => self.refresh(generation).await,
            Some(t) if t.is_empty() => Err(AuthError::NoCredentials),
            Some(t) if t.is_expired(now + EXPIRY_MARGIN) && self.can_refresh() => {
                self.refresh(generation).await
            }
            Some(t) if t.is_expired(now) => Err(AuthError::TokenExpired),
            Some(t) => Ok(Lease {
                token: t.secret,
                generation,
            }),
        }
    }

    /// Refreshes the token handed out as generation `stale`. Concurrent
    /// callers share one refresh: whoever waited for the lock gets the token
    /// the first caller obtained.
    pub(crate) async fn refresh(&self, stale: u64) -> Result<Lease, AuthError> {
        let _single_flight = self.refresh_lock.lock().await;
        let (had_token, refresh_token, refresh_expires_at) = {
            let state = self.lock();
            if state.generation != stale
                && let Some(t) = &state.token
                && !t.is_expired(SystemTime::now())
            {
                return Ok(Lease {
                    token: t.secret.clone(),
                    generation: state.generation,
                });
            }
            (
                state.token.is_some(),
                state.refresh_token.clone(),
                state.refresh_expires_at,
            )
        };
        let exchanged = match &self.source {
            Source::Static => {
                return Err(AuthError::TokenInvalid {
                    reason: "the server rejected the access token and it cannot be refreshed"
                        .into(),
                });
            }
            Source::OAuth {
                client_id,
                client_secret,
                token_url,
            } => {
                let Some(refresh_token) = refresh_token else {
                    return Err(AuthError::TokenExpired);
                };
                if refresh_expires_at.is_some_and(|at| at <= SystemTime::now()) {
                    return Err(AuthError::RefreshTokenExpired);
                }
                let url = match token_url {
                    Some(u) => u.clone(),
                    None => Url::parse(&self.services.token_url())
                        .map_err(|e| AuthError::RefreshFailed(format!("bad token URL: {e}")))?,
                };
                oauth::refresh(
                    &self.transport,
                    url,
                    &refresh_token,
                    oauth::Client {
                        id: client_id,
                        secret: client_secret,
                    },
                )
                .await?
            }
            Source::Jwt(jwt) => {
                oauth::jwt_login(&self.transport, &self.services.hydra(), jwt).await?
            }
            Source::Provider(p) => {
                let access = if had_token {
                    p.refresh().await?
                } else {
                    p.access_token().await?
                };
                Exchanged::access_only(access)
            }
        };
        if exchanged.access.is_empty() {
            return Err(AuthError::NoCredentials);
        }
        let lease = self.install(exchanged);
        tracing::info!(generation = lease.generation, "access token refreshed");
        if had_token {
            (self.on_refresh)();
        }
        Ok(lease)
    }

    /// Replaces the token (the app swapped it); requests use it at once.
    pub(crate) fn set(&self, token: AccessToken) {
        self.install(Exchanged::access_only(token));
        (self.on_refresh)();
    }

    fn install(&self, exchanged: Exchanged) -> Lease {
        let mut state = self.lock();
        let token = exchanged.access.secret.clone();
        state.token = Some(exchanged.access);
        if let Some(rt) = exchanged.refresh_token
            && !rt.expose_secret().is_empty()
        {
            state.refresh_token = Some(rt);
            state.refresh_expires_at = exchanged.refresh_expires_at;
        }
        state.generation += 1;
        Lease {
            token,
            generation: state.generation,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn empty() -> Self {
        Self {
            token: None,
            generation: 0,
            refresh_token: None,
            refresh_expires_at: None,
        }
    }
}
