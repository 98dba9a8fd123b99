//! Webex Meetings SDK for Rust: authorization, service discovery, device
//! registration (WDM) and the Mercury event socket, speaking the real Webex
//! wire protocol — Webex's cloud by default, or a self-hosted server.
//!
//! # The flow
//!
//! ```no_run
//! use webex_meetings::{Credentials, Webex, WebexConfig};
//!
//! # async fn run() -> Result<(), webex_meetings::Error> {
//! // Webex.init({credentials: {access_token}}): no I/O, cannot hang.
//! let webex = Webex::init(WebexConfig::builder(Credentials::access_token("<token>")).build()?);
//! let meetings = webex.meetings();
//!
//! // meetings.on('meetings:ready', …): replayed to late subscribers.
//! meetings.on("meetings:ready", |_| println!("ready"))?.detach();
//! meetings.on("meetings:registered", |_| println!("registered"))?.detach();
//!
//! // meetings.register(): every step bounded, errors name the step.
//! meetings.register().await?;
//!
//! // meetings.unregister(): closes the socket, deletes the device.
//! meetings.unregister().await?;
//! # Ok(()) }
//! ```
//!
//! # A recording bot: media with no browser
//!
//! [`Meeting::add_media`] joins a meeting's audio and video headless, over
//! the same ROAP exchange the official SDK's transcoded path uses. Twenty
//! lines that record a meeting (PCM audio, H.264 Annex B video):
//!
//! ```no_run
//! use std::io::Write;
//! use futures::StreamExt;
//! use webex_meetings::{MediaOptions, RemoteTrack, Webex, WebexConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let webex = Webex::init(WebexConfig::from_env()?); // WEBEX_ACCESS_TOKEN, …
//! let meetings = webex.meetings();
//! meetings.register().await?;
//! let meeting = meetings.create("standup@example.com").await?;
//! meeting.join().await?;
//! let media = meeting.add_media(MediaOptions::new()).await?; // receive-only
//! media.request_keyframe(RemoteTrack::Video)?;
//! let mut audio = media.remote_audio().decoded(); // 48 kHz mono PCM
//! let mut video = media.remote_video(); // H.264 access units
//! let mut pcm = std::fs::File::create("meeting.pcm")?;
//! let mut h264 = std::fs::File::create("meeting.h264")?;
//! loop {
//!     tokio::select! {
//!         Some(frame) = audio.next() => for s in &frame.samples { pcm.write_all(&s.to_le_bytes())? },
//!         Some(au) = video.next() => h264.write_all(&au.data)?,
//!         else => break, // media stopped: left, ended, or stop_media()
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # What it does better than the official SDK
//!
//! - Every `register()` settles: each step ([`Step`]) has a timeout, and the
//!   error names the step ([`RegisterError`]). Optional calls degrade to
//!   [`Warning`]s in the [`RegistrationReport`].
//! - Typed auth errors ([`AuthError`]); tokens refreshed before expiry and on
//!   a 401, one refresh in flight at a time; swap tokens at runtime with
//!   [`Webex::set_access_token`].
//! - Devices are reused across restarts ([`FileDeviceStore`]); a full quota
//!   reclaims only this app's own devices, else
//!   [`Error::DeviceLimitExceeded`].
//! - 429/503 honour `Retry-After` (parsed defensively); every request carries
//!   a `trackingid`.
//! - `register()`/`unregister()` are idempotent and serialized;
//!   `unregister()` stops every timer and retry.
//!
//! # Self-hosted server
//!
//! ```
//! # use webex_meetings::{Credentials, WebexConfig};
//! let config = WebexConfig::builder(Credentials::access_token("<token>"))
//!     .discovery_url("http://127.0.0.1:8080/u2c/api/v1")
//!     .build()?;
//! # Ok::<(), webex_meetings::Error>(())
//! ```

mod client;
mod config;
mod core;
mod credentials;
mod device;
mod error;
mod events;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod locus;
mod media;
mod meetings;
pub mod mercury;
mod people;
mod registration;
mod services;

pub use crate::core::{RegistrationReport, RegistrationState, RegistrationStatus, Warning};
pub use client::Webex;
pub use config::{
    ConfigError, ConfigOption, DEFAULT_DEVICE_NAME, DEFAULT_DISCOVERY_URL, DEFAULT_HYDRA_URL,
    DEFAULT_TOKEN_URL, RetryPolicy, Timeouts, WebexConfig, WebexConfigBuilder,
};
pub use credentials::{AccessToken, Credentials, OAuthTokens, TokenProvider};
pub use device::{DeviceKey, DeviceStore, FileDeviceStore, MemoryDeviceStore, Session, SessionKey};
pub use error::{AuthError, Error, HttpError, RegisterError, Step, StoreError};
pub use events::{
    AddedReason, EventName, EventStream, Events, MeetingsEvent, RemovedReason, Subscription,
};
pub use locus::{
    Meeting, MeetingError, MeetingEvent, MeetingEventStream, MeetingOptions, Member, MemberStatus,
    MembersDelta, ShareStatus,
};
pub use media::{
    AudioPacket, AudioSource, AudioStream, Media, MediaDirection, MediaError, MediaOptions,
    MediaStats, PcmFrame, PcmStream, RemoteTrack, VideoFrame, VideoSource, VideoStream,
};
pub use meetings::Meetings;
pub use webex_wire;
pub use webex_wire::device::Device;

/// Compile-time check: the handles and event streams can be moved to and
/// shared between threads (a multi-threaded runtime's tasks).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Webex>();
    send_sync::<Meetings>();
    send_sync::<Meeting>();
    send_sync::<EventStream>();
    send_sync::<MeetingEventStream>();
    send_sync::<Subscription>();
    send_sync::<Media>();
    send_sync::<AudioStream>();
    send_sync::<VideoStream>();
};
