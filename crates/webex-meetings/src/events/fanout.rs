//! The one event plumbing of the SDK: a [`Fanout`] hands every event to
//! each subscriber and replays the current state to a new one first; a
//! subscriber reads an [`Events`] stream; `on()` runs a handler on a task
//! whose [`Subscription`] aborts it when dropped. The meetings events of
//! [`crate::Meetings`] and the events of each [`crate::Meeting`] both go
//! through it.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;

/// An event type that can be fanned out and subscribed to by name.
pub(crate) trait Event: Clone + Send + 'static {
    /// What the debug log calls it (`meetings event`, `meeting event`).
    const LOG: &'static str;

    /// The Webex name of the event.
    fn event_name(&self) -> Cow<'static, str>;

    /// Whether a subscription to `name` receives this event.
    fn is_named(&self, name: &str) -> bool;

    /// Refuses a subscription to a name that no event of this kind carries.
    fn check_name(name: &str) -> Result<(), Error>;
}

/// What a fan-out remembers to bring a new subscriber up to date.
pub(crate) trait Replay<E>: Send {
    /// Notes `event`, just emitted.
    fn record(&mut self, event: &E);

    /// The events a new subscriber gets first, oldest first.
    fn replay(&self) -> Vec<E>;
}

/// Remembers nothing.
#[derive(Debug, Default)]
pub(crate) struct NoReplay;

impl<E> Replay<E> for NoReplay {
    fn record(&mut self, _: &E) {}

    fn replay(&self) -> Vec<E> {
        Vec::new()
    }
}

/// Delivers each event to every live subscriber, in emission order.
pub(crate) struct Fanout<E, R = NoReplay> {
    pub(crate) inner: Mutex<FanoutState<E, R>>,
}

pub(crate) struct FanoutState<E, R> {
    replay: R,
    pub(crate) subscribers: Vec<mpsc::UnboundedSender<E>>,
    /// No subscriber is kept any more (the source is gone).
    closed: bool,
}

impl<E, R: Default> Default for Fanout<E, R> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(FanoutState {
                replay: R::default(),
                subscribers: Vec::new(),
                closed: false,
            }),
        }
    }
}

impl<E: Event, R: Replay<E>> Fanout<E, R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, FanoutState<E, R>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `event` for replay and delivers it to every subscriber
    /// (dropping those whose stream is gone).
    pub(crate) fn emit(&self, event: E) {
        let mut state = self.lock();
        state.replay.record(&event);
        tracing::debug!(event = %event.event_name(), "{}", E::LOG);
        state.subscribers.retain(|s| s.send(event.clone()).is_ok());
    }

    /// A stream of the replayed state, then every new event.
    pub(crate) fn subscribe(&self) -> Events<E> {
        self.subscribe_after(Vec::new())
    }

    /// A stream of `first`, then the replayed state, then every new event;
    /// once the fan-out is closed it ends after `first` and the replay.
    pub(crate) fn subscribe_after(&self, first: Vec<E>) -> Events<E> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.lock();
        // Sends cannot fail: `rx` is alive.
        for event in first.into_iter().chain(state.replay.replay()) {
            let _ = tx.send(event);
        }
        if !state.closed {
            state.subscribers.push(tx);
        }
        Events { rx }
    }

    /// Ends every subscriber's stream, now and for later subscribers.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.subscribers.clear();
    }
}

/// A stream of events, starting with the current state so that a late
/// subscriber misses nothing: [`crate::EventStream`] for
/// [`crate::Meetings::events`], [`crate::MeetingEventStream`] for
/// [`crate::Meeting::events`].
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn run(meetings: webex_meetings::Meetings) {
/// let mut events = meetings.events();
/// while let Some(event) = events.next().await {
///     println!("{}", event.name());
/// }
/// # }
/// ```
pub struct Events<E> {
    pub(crate) rx: mpsc::UnboundedReceiver<E>,
}

impl<E> Events<E> {
    /// The next event; `None` once its source is gone (the SDK dropped, or
    /// the meeting removed from the list).
    pub async fn recv(&mut self) -> Option<E> {
        self.rx.recv().await
    }
}

impl<E> Stream for Events<E> {
    type Item = E;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl<E> std::fmt::Debug for Events<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

/// Runs `handler` for every event of `subscribe()` named `name`, after
/// checking that `name` can ever fire: the body of every `on()`.
///
/// # Panics
/// Outside a Tokio runtime (the handler runs on a spawned task).
pub(crate) fn on<E: Event>(
    name: String,
    subscribe: impl FnOnce() -> Events<E>,
    handler: impl Fn(E) + Send + Sync + 'static,
) -> Result<Subscription, Error> {
    E::check_name(&name)?;
    let mut events = subscribe();
    Ok(Subscription {
        task: AbortOnDrop(Some(tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if event.is_named(&name) {
                    handler(event);
                }
            }
        }))),
    })
}

/// A task that is aborted when this handle is dropped, unless detached.
struct AbortOnDrop(Option<JoinHandle<()>>);

impl AbortOnDrop {
    /// Lets the task run on by itself.
    fn detach(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// A handler registered with `on()` (on [`crate::Meetings`] or a
/// [`crate::Meeting`]); dropping it unsubscribes. Call
/// [`Subscription::detach`] to keep the handler for the SDK's lifetime.
///
/// ```no_run
/// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::Error> {
/// let registered = meetings.on("meetings:registered", |_| println!("registered"))?;
/// meetings.register().await?;
/// drop(registered); // the handler stops here
/// meetings.on("network:disconnected", |e| eprintln!("{}", e.name()))?.detach();
/// # Ok(()) }
/// ```
#[must_use = "dropping a Subscription unsubscribes its handler; call .detach() to keep it"]
pub struct Subscription {
    task: AbortOnDrop,
}

impl Subscription {
    /// Keeps the handler running until the SDK is dropped.
    pub fn detach(mut self) {
        self.task.detach();
    }

    /// Stops the handler now (same as dropping).
    pub fn unsubscribe(self) {}
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.task.0.is_some())
            .finish()
    }
}
