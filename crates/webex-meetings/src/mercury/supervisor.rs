//! The background task: runs the live connection and, when it drops, follows
//! the close-code policy (backoff, token refresh, re-registration, stand
//! down) until it reconnects, gives up, or is cancelled.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use url::Url;

use super::backoff::Backoff;
use super::connection::{Connection, Ended};
use super::endpoint::{loggable, socket_url};
use super::policy::{self, Step};
use super::{MercuryError, MercuryEvent, MercuryHost, MercuryOptions};

/// The first connection, as `connect()` makes it: one attempt, plus one
/// retry after a token refresh (4401) or a re-registration (404 / 4404).
/// Returns the URL finally used with the connection.
pub(super) async fn first_connection(
    web_socket_url: &str,
    host: &dyn MercuryHost,
    options: &MercuryOptions,
) -> Result<(Url, Connection), MercuryError> {
    let url = socket_url(web_socket_url, options.multiple_connections)?;
    let token = host.access_token().await?;
    let failure = match Connection::establish(&url, &token, options).await {
        Ok(conn) => return Ok((url, conn)),
        Err(f) => f.error,
    };
    match policy::after_failure(&failure) {
        Step::RefreshToken => {
            tracing::info!(error = %failure, "first connect refused the token; refreshing it once");
            let token = host.refresh_access_token().await?;
            let conn = Connection::establish(&url, &token, options)
                .await
                .map_err(|f| f.error)?;
            Ok((url, conn))
        }
        Step::Reregister => {
            tracing::info!(error = %failure, "device unknown at first connect; registering it again once");
            let new_url = host.reregister_device().await?;
            let url = socket_url(&new_url, options.multiple_connections)?;
            let token = host.access_token().await?;
            let conn = Connection::establish(&url, &token, options)
                .await
                .map_err(|f| f.error)?;
            Ok((url, conn))
        }
        _ => Err(failure),
    }
}

/// State of the background task.
pub(super) struct Supervisor {
    pub(super) url: Url,
    pub(super) host: Arc<dyn MercuryHost>,
    pub(super) options: MercuryOptions,
    pub(super) events: mpsc::UnboundedSender<MercuryEvent>,
    pub(super) cancel: CancellationToken,
    pub(super) connected: Arc<AtomicBool>,
    pub(super) backoff: Backoff,
    /// Re-registrations since the last stable connection.
    pub(super) reregistrations: u32,
}

impl Supervisor {
    /// Runs `conn`, then every reconnected socket, until the client stops.
    pub(super) async fn run(mut self, mut conn: Connection) {
        loop {
            self.connected.store(true, Ordering::SeqCst);
            let opened = Instant::now();
            let ended = conn
                .run(&self.options, &self.events, &self.cancel)
                .instrument(tracing::info_span!("mercury_connection", url = %loggable(&self.url)))
                .await;
            self.connected.store(false, Ordering::SeqCst);
            let dropped = match ended {
                Ended::Cancelled => return,
                Ended::Dropped(d) => d,
            };
            // A connection that held for a while ends the "consecutive"
            // streak; one that dropped quickly keeps backing off, so a flapping
            // server never sees a tight reconnect loop.
            if opened.elapsed() >= self.options.backoff_max {
                self.backoff.reset();
                self.reregistrations = 0;
            }
            tracing::info!(code = ?dropped.code, reason = %dropped.reason, step = ?dropped.step, "mercury socket dropped");
            self.emit(MercuryEvent::Disconnected {
                code: dropped.code,
                reason: dropped.reason.clone(),
                will_reconnect: dropped.step.reconnects(),
            });
            match self.reconnect(dropped.step, dropped.error()).await {
                Some(next) => {
                    conn = next;
                    self.emit(MercuryEvent::Reconnected);
                }
                None => return,
            }
        }
    }

    /// Tries until a connection is up (`Some`) or the client must stop
    /// (`None`, after emitting why, or after cancellation).
    async fn reconnect(
        &mut self,
        mut step: Step,
        mut last_error: MercuryError,
    ) -> Option<Connection> {
        let mut retry_after: Option<Duration> = None;
        loop {
            match step {
                Step::StandDown => {
                    self.emit(MercuryEvent::Replaced);
                    return None;
                }
                Step::Stop => {
                    self.emit(MercuryEvent::Stopped(last_error));
                    return None;
                }
                Step::Retry | Step::RefreshToken | Step::Reregister => {}
            }
            let attempt = self.backoff.attempt() + 1;
            let delay = self
                .backoff
                .next_delay()
                .max(retry_after.take().unwrap_or_default());
            let span = tracing::info_span!("mercury_reconnect", url = %loggable(&self.url), attempt, delay_ms = delay.as_millis() as u64);
            let outcome = self.attempt(step, delay).instrument(span).await?;
            match outcome {
                Ok(conn) => return Some(conn),
                Err(failure) => {
                    retry_after = failure.retry_after;
                    step = failure.step;
                    if let Some(error) = failure.error {
                        last_error = error;
                    }
                }
            }
        }
    }

    /// One attempt: wait `delay`, do what `step` asks of the host, connect.
    /// `None`: cancelled, or the client stopped (already reported).
    async fn attempt(
        &mut self,
        step: Step,
        delay: Duration,
    ) -> Option<Result<Connection, AttemptFailure>> {
        tracing::info!("reconnecting after the delay");
        self.cancellable(tokio::time::sleep(delay)).await?;
        let mut token: Option<SecretString> = None;
        match step {
            Step::RefreshToken => match self.cancellable(self.host.refresh_access_token()).await? {
                Ok(t) => {
                    token = Some(t);
                    self.emit(MercuryEvent::TokenRefreshed);
                }
                Err(e) => return Some(Err(AttemptFailure::host(step, e.into()))),
            },
            Step::Reregister => {
                if self.reregistrations >= self.options.max_reregistrations {
                    tracing::warn!(
                        limit = self.options.max_reregistrations,
                        "re-registration limit reached; giving up"
                    );
                    return Some(Err(AttemptFailure::stop()));
                }
                self.reregistrations += 1;
                match self.cancellable(self.host.reregister_device()).await? {
                    Ok(new_url) => match socket_url(&new_url, self.options.multiple_connections) {
                        Ok(url) => {
                            tracing::info!(new_url = %loggable(&url), "device registered again");
                            self.url = url;
                            self.emit(MercuryEvent::Reregistered {
                                web_socket_url: new_url,
                            });
                        }
                        Err(e) => return Some(Err(AttemptFailure::host(Step::Stop, e))),
                    },
                    Err(e) => return Some(Err(AttemptFailure::host(step, e.into()))),
                }
            }
            _ => {}
        }
        let token = match token {
            Some(t) => t,
            None => match self.cancellable(self.host.access_token()).await? {
                Ok(t) => t,
                Err(e) => return Some(Err(AttemptFailure::host(Step::Retry, e.into()))),
            },
        };
        let established = self
            .cancellable(Connection::establish(&self.url, &token, &self.options))
            .await?;
        Some(established.map_err(|f| {
            tracing::info!(error = %f.error, retry_after = ?f.retry_after, "reconnect attempt failed");
            AttemptFailure {
                step: policy::after_failure(&f.error),
                error: Some(f.error),
                retry_after: f.retry_after,
            }
        }))
    }

    /// `fut`'s output, or `None` as soon as the client is cancelled.
    async fn cancellable<F: Future>(&self, fut: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => None,
            out = fut => Some(out),
        }
    }

    fn emit(&self, event: MercuryEvent) {
        // A dropped receiver only means nobody listens any more.
        let _ = self.events.send(event);
    }
}

/// A failed attempt and what to do next.
struct AttemptFailure {
    step: Step,
    /// The new error; `None` keeps the previous one.
    error: Option<MercuryError>,
    retry_after: Option<Duration>,
}

impl AttemptFailure {
    /// A host callback failed while doing `step`: retry the same step if the
    /// host says it may help, otherwise stop.
    fn host(step: Step, error: MercuryError) -> Self {
        let step = if error.is_retryable() {
            step
        } else {
            Step::Stop
        };
        Self {
            step,
            error: Some(error),
            retry_after: None,
        }
    }

    /// The re-registration bound was hit; `Stopped` carries the error that
    /// asked for one more.
    fn stop() -> Self {
        Self {
            step: Step::Stop,
            error: None,
            retry_after: None,
        }
    }
}
