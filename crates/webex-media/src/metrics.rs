//! The engine's Prometheus families (recorded with the `metrics` macros;
//! the server installs the recorder).

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Sessions on this node (gauge).
pub(crate) const SESSIONS: &str = "webex_media_sessions";
/// Frames forwarded, by `kind` (`audio`, `video`).
pub(crate) const FRAMES_FORWARDED: &str = "webex_media_frames_forwarded_total";
/// Payload bytes forwarded, by `kind`.
pub(crate) const BYTES_FORWARDED: &str = "webex_media_bytes_forwarded_total";
/// Sessions that never connected (ICE) or lost ICE.
pub(crate) const ICE_FAILURES: &str = "webex_media_ice_failures_total";
/// Sessions whose DTLS or SRTP failed.
pub(crate) const DTLS_FAILURES: &str = "webex_media_dtls_failures_total";
/// Keyframe requests sent to senders.
pub(crate) const KEYFRAME_REQUESTS: &str = "webex_media_keyframe_requests_total";
/// Datagrams dropped, by `reason`.
pub(crate) const DROPPED_DATAGRAMS: &str = "webex_media_dropped_datagrams_total";
/// Time spent making one 20 ms audio frame of one mixed meeting.
pub(crate) const MIX_SECONDS: &str = "webex_media_mix_seconds";
/// Active-speaker changes in mixed meetings.
pub(crate) const SPEAKER_SWITCHES: &str = "webex_media_speaker_switches_total";
/// Sessions closed because str0m panicked in them.
pub(crate) const SESSION_PANICS: &str = "webex_media_session_panics_total";

/// Registers the help text of every metric family of the engine with the
/// installed `metrics` recorder. Call once, after installing it.
///
/// ```
/// webex_media::describe_metrics();
/// ```
pub fn describe_metrics() {
    describe_gauge!(
        SESSIONS,
        "Media sessions (one per participant with media) on this node."
    );
    describe_counter!(
        FRAMES_FORWARDED,
        "Media frames forwarded from one participant to another, by kind (audio, video)."
    );
    describe_counter!(
        BYTES_FORWARDED,
        "Media payload bytes forwarded from one participant to another, by kind (audio, video)."
    );
    describe_counter!(
        ICE_FAILURES,
        "Media sessions closed because ICE never connected or stayed disconnected."
    );
    describe_counter!(
        DTLS_FAILURES,
        "Media sessions closed because DTLS or SRTP failed."
    );
    describe_counter!(
        KEYFRAME_REQUESTS,
        "Keyframe requests (PLI/FIR) sent to media senders, relayed or after frame loss."
    );
    describe_counter!(
        DROPPED_DATAGRAMS,
        "UDP datagrams the media engine dropped, by reason (unknown_source, unparseable, send_failed)."
    );
    describe_histogram!(
        MIX_SECONDS,
        metrics::Unit::Seconds,
        "Engine-thread time to make one 20 ms frame of one meeting of more than two: decode every sender, mix everyone-but-the-receiver and encode it for each receiver (and write it). Above 0.02 the meeting cannot keep up."
    );
    describe_counter!(
        SPEAKER_SWITCHES,
        "Active-speaker changes in meetings of more than two (each switches the receivers' main video)."
    );
    describe_counter!(
        SESSION_PANICS,
        "Media sessions closed because the WebRTC stack panicked in them."
    );
}

pub(crate) fn set_sessions(n: usize) {
    gauge!(SESSIONS).set(n as f64);
}

pub(crate) fn forwarded(kind: &'static str, bytes: usize) {
    counter!(FRAMES_FORWARDED, "kind" => kind).increment(1);
    counter!(BYTES_FORWARDED, "kind" => kind).increment(bytes as u64);
}

pub(crate) fn ice_failure() {
    counter!(ICE_FAILURES).increment(1);
}

pub(crate) fn dtls_failure() {
    counter!(DTLS_FAILURES).increment(1);
}

pub(crate) fn keyframe_request() {
    counter!(KEYFRAME_REQUESTS).increment(1);
}

pub(crate) fn dropped(reason: &'static str) {
    counter!(DROPPED_DATAGRAMS, "reason" => reason).increment(1);
}

pub(crate) fn session_panic() {
    counter!(SESSION_PANICS).increment(1);
}

pub(crate) fn mixed(took: Duration) {
    histogram!(MIX_SECONDS).record(took.as_secs_f64());
}

pub(crate) fn speaker_switch() {
    counter!(SPEAKER_SWITCHES).increment(1);
}
