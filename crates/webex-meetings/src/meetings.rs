//! [`Meetings`]: the public meetings handle: register and unregister this
//! app with Webex, listen to what happens, and find meetings. Every method
//! hands over to a feature: the registration (`registration`), the meetings
//! list (`locus`) or the SDK's `Core` (status, device, events).

use std::sync::Arc;

use webex_wire::device::Device;

use crate::core::{Core, RegistrationReport, RegistrationState, RegistrationStatus};
use crate::error::Error;
use crate::events::{EventStream, MeetingsEvent, Subscription};
use crate::locus::{Collection, Meeting, MeetingError};
use crate::registration::Registration;

/// The meetings handle. Cheap to clone; all handles share one registration.
///
/// ```no_run
/// use webex_meetings::{Credentials, Webex, WebexConfig};
///
/// # async fn run() -> Result<(), webex_meetings::Error> {
/// let webex = Webex::init(WebexConfig::builder(Credentials::access_token("tok_PF84_org")).build()?);
/// let meetings = webex.meetings();
/// meetings.on("meetings:registered", |_| println!("registered"))?.detach();
/// let report = meetings.register().await?;
/// println!("device {}", report.device.url);
/// meetings.unregister().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Meetings {
    core: Arc<Core>,
    registration: Arc<Registration>,
    list: Arc<Collection>,
}

impl Meetings {
    /// The features of a new SDK instance, on `core`.
    pub(crate) fn new(core: Arc<Core>) -> Self {
        let list = Collection::new(Arc::clone(&core));
        let registration = Arc::new(Registration::new(Arc::clone(&core), Arc::clone(&list)));
        Self {
            core,
            registration,
            list,
        }
    }

    /// Registers: catalog, `people/me`, device (reused if stored), Mercury,
    /// each step with its own timeout, independent ones at once and a warm
    /// start without waiting for what it remembers (see the device store);
    /// then emits
    /// `meetings:registered`. Returns at once when already registered.
    ///
    /// Errors name the failed step ([`crate::RegisterError`]); auth problems
    /// come as [`Error::Auth`], a full device quota as
    /// [`Error::DeviceLimitExceeded`].
    ///
    /// # Failure and cancellation
    ///
    /// A registration that fails, or whose future is dropped part-way,
    /// leaves no current device and the status unregistered. A device WDM
    /// already created is either kept and recorded — filed in the device
    /// store, so the next `register()` refreshes it instead of creating
    /// another, and deleted by the next `unregister()` — or, when the store
    /// cannot file it, deleted. (After a drop that cleanup runs on a
    /// spawned task.) One case is beyond any client: a future dropped while
    /// the device POST is on the wire, whose answer (and so the device's
    /// URL) never arrives; this app's devices are reclaimed when the quota
    /// is reached.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) {
    /// use std::time::Duration;
    /// // Giving up on a slow registration is safe: nothing is left half-made.
    /// if tokio::time::timeout(Duration::from_secs(5), meetings.register()).await.is_err() {
    ///     assert!(!meetings.is_registered());
    ///     assert!(meetings.device().is_none());
    /// }
    /// # }
    /// ```
    pub async fn register(&self) -> Result<RegistrationReport, Error> {
        self.registration.register().await
    }

    /// Unregisters: stops every timer and retry, closes the socket (1000),
    /// deletes the device (a 404 counts as success), forgets the stored
    /// device, then emits `meetings:unregistered`. Does nothing when not
    /// registered. If the DELETE fails, the error is returned and the next
    /// `unregister()` tries again.
    ///
    /// After `network:replaced` the device is left alone (neither deleted nor
    /// forgotten): the connection that replaced this one is using it.
    ///
    /// # Cancellation
    ///
    /// Dropping the future part-way still ends the registration: background
    /// tasks stop, the socket closes, there is no current device and the
    /// status is unregistered (`meetings:unregistered` is emitted). The
    /// device stays filed in the device store and remembered, so the next
    /// `unregister()` deletes it (and the next successful `register()`
    /// reuses or deletes it). A drop while only that leftover is being
    /// deleted keeps it remembered too.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::Error> {
    /// use std::time::Duration;
    /// if tokio::time::timeout(Duration::from_millis(100), meetings.unregister()).await.is_err() {
    ///     assert!(!meetings.is_registered());
    ///     meetings.unregister().await?; // deletes the device the first call left
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn unregister(&self) -> Result<(), Error> {
        self.registration.unregister().await
    }

    /// Waits until the SDK is ready. `Webex::init` makes it ready at once,
    /// so this never blocks; it exists so code written against the event
    /// model can await readiness explicitly.
    pub async fn ready(&self) {
        let mut events = self.events();
        while let Some(e) = events.recv().await {
            if matches!(e, MeetingsEvent::Ready) {
                return;
            }
        }
    }

    /// Whether `register()` succeeded and `unregister()` has not run since.
    pub fn is_registered(&self) -> bool {
        self.status().state == RegistrationState::Registered
    }

    /// A snapshot of the registration.
    pub fn status(&self) -> RegistrationStatus {
        self.core.status()
    }

    /// The registered device, if any.
    pub fn device(&self) -> Option<Device> {
        self.core.current_device().map(|c| c.device)
    }

    /// Every event, starting with the current state (`meetings:ready`, then
    /// `meetings:registered` if registered), so subscribing late misses
    /// nothing that matters.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) {
    /// use futures::StreamExt;
    /// let mut events = meetings.events();
    /// assert_eq!(events.next().await.map(|e| e.name()).as_deref(), Some("meetings:ready"));
    /// # }
    /// ```
    pub fn events(&self) -> EventStream {
        self.core.events.subscribe()
    }

    /// Runs `handler` for every event named `name` (see
    /// [`MeetingsEvent::matches`]), starting with the current state. Dropping
    /// the returned [`Subscription`] unsubscribes; `.detach()` keeps it.
    ///
    /// `name` is a name from [`crate::EventName`], `event:<eventType>` (or a
    /// dotted prefix of it), `event` or `*`. Any other name is refused with
    /// [`Error::UnknownEvent`], which lists the known names: a handler that
    /// could never fire is almost always a typo. The events of one meeting
    /// (`members:update`, `meeting:stateChange`, `meeting:self:left`) are
    /// refused with [`Error::MeetingEventOnMeetings`]: subscribe to them on
    /// the [`crate::Meeting`] (`meeting.on(…)`).
    ///
    /// # Panics
    /// Outside a Tokio runtime (the handler runs on a spawned task).
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::Error> {
    /// let _sub = meetings.on("meetings:ready", |_| println!("ready"))?;
    /// assert!(meetings.on("meetings:registerd", |_| {}).is_err());
    /// assert!(meetings.on("members:update", |_| {}).is_err());
    /// # Ok(()) }
    /// ```
    pub fn on(
        &self,
        name: impl Into<String>,
        handler: impl Fn(MeetingsEvent) + Send + Sync + 'static,
    ) -> Result<Subscription, Error> {
        crate::events::on(name.into(), || self.events(), handler)
    }

    /// Fetches the user's active meetings (`GET {locus}/loci`, the official
    /// `syncMeetings`): adds the new ones (`meeting:added`), removes those
    /// that ended or are no longer listed (`meeting:removed`), and keeps
    /// meetings created here that have not been joined. Returns the list.
    ///
    /// Runs by itself after every Mercury reconnect.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::MeetingError> {
    /// for meeting in meetings.sync().await? {
    ///     println!("{} {:?}", meeting.id(), meeting.state());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn sync(&self) -> Result<Vec<Meeting>, MeetingError> {
        self.list.sync().await
    }

    /// A meeting for `destination` — a SIP URI (`room1@example.com`), a
    /// person's email (their personal room), a meeting number or a join
    /// link — without joining it. Asks `meetingInfo` first (a 404 or an
    /// unreachable service is tolerated) and emits `meeting:added` before
    /// returning. Creating the same destination again returns the same
    /// meeting.
    ///
    /// ```no_run
    /// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::MeetingError> {
    /// let meeting = meetings.create("room1@webex.localhost").await?;
    /// assert_eq!(meetings.create("sip:room1@webex.localhost").await?.id(), meeting.id());
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, destination: &str) -> Result<Meeting, MeetingError> {
        self.list.create(destination).await
    }

    /// Every meeting in the list (the official `getAllMeetings`).
    pub fn list(&self) -> Vec<Meeting> {
        self.list.list()
    }

    /// The meeting with this id (or Locus URL), if it is in the list.
    pub fn get(&self, id: &str) -> Option<Meeting> {
        self.list.get(id)
    }
}

impl std::fmt::Debug for Meetings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meetings")
            .field("status", &self.status())
            .finish()
    }
}
