//! Entry points for the cargo-fuzz targets in `fuzz/` at the workspace root
//! (the `fuzzing` feature; normal builds do not have this module).
//!
//! They run the SDK's own code on what a server sends: a Mercury message as
//! the socket reads it, and Locus documents as the meetings list applies
//! them. Nothing here parses anything itself. Not a stable API.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webex_wire::device::Device;
use webex_wire::locus::Locus;
use webex_wire::mercury::{BUFFER_STATE, ServerFrame};

use crate::core::{Core, CurrentDevice};
use crate::locus::{Collection, Input};
use crate::{Credentials, DeviceKey, Meeting, WebexConfig};

/// The URL of the device a [`Feed`] is registered with; documents name it
/// in `self.devices[].url`.
pub const DEVICE_URL: &str = "https://fuzz.invalid/wdm/api/v1/devices/fuzz-device";

/// One websocket message read as the SDK's Mercury connection reads it
/// (text when `bytes` are UTF-8, binary otherwise): the frame, or `None`
/// when it is ignored.
pub fn mercury_message(bytes: &[u8]) -> Option<ServerFrame> {
    let message = match std::str::from_utf8(bytes) {
        Ok(text) => Message::text(text),
        Err(_) => Message::binary(bytes.to_vec()),
    };
    crate::mercury::connection::parse(&message)
}

/// A registered SDK's meetings list, fed by hand: Mercury messages and the
/// answers of the Locus requests it makes (sync, resync, fetch). Requests
/// the list schedules are not made; the next input plays their answer.
pub struct Feed {
    list: Arc<Collection>,
    inbox: mpsc::UnboundedReceiver<Input>,
}

impl Feed {
    /// A fresh SDK, registered with the device [`DEVICE_URL`] (no I/O).
    ///
    /// # Panics
    /// If the SDK's default configuration is refused (a bug).
    pub fn new() -> Self {
        let config = WebexConfig::builder(Credentials::access_token("fuzz_PF84_org"))
            .build()
            .expect("the default configuration is valid");
        let device: Device = serde_json::from_value(serde_json::json!({
            "url": DEVICE_URL,
            "webSocketUrl": "wss://fuzz.invalid/mercury",
        }))
        .expect("a device record");
        let core = Core::new(config);
        core.replace_current_device(Some(CurrentDevice {
            device,
            key: DeviceKey {
                discovery_url: String::new(),
                user_id: String::new(),
                device_name: String::new(),
            },
            wdm: String::new(),
        }));
        let list = Collection::new(core);
        let inbox = list.attach_worker();
        Self { list, inbox }
    }

    /// One Mercury message: parsed as the connection parses it, dropped
    /// when the connection drops it (pongs, `mercury.buffer_state`), else
    /// routed to the meetings list and applied as its worker applies it.
    pub fn mercury(&mut self, bytes: &[u8]) {
        let Some(frame) = mercury_message(bytes) else {
            return;
        };
        if frame.is_pong() || frame.event_type() == Some(BUFFER_STATE) {
            return;
        }
        self.list.on_frame(&frame);
        self.run_worker();
    }

    /// The answer of `GET {locus}/loci`, applied as `Meetings::sync` applies it.
    pub fn sync(&mut self, loci: Vec<Locus>) {
        let epoch = self.list.epoch();
        self.list.apply_sync(loci, epoch);
        self.run_worker();
    }

    /// The answer of `GET {locusUrl}`: a resynchronisation of the meeting
    /// with that URL, or the first fetch of a Locus seen as a delta.
    pub fn fetched(&mut self, doc: Locus) {
        match self.list.get(&doc.url) {
            Some(meeting) => crate::locus::worker::apply_resync(&self.list, &meeting, doc),
            None => {
                let url = doc.url.clone();
                crate::locus::worker::apply_fetched(&self.list, &url, doc);
            }
        }
        self.run_worker();
    }

    /// The meetings in the list.
    pub fn meetings(&self) -> Vec<Meeting> {
        self.list.list()
    }

    /// Applies the Locus events the list handed to its worker. Other work
    /// (syncs, resyncs, fetches) needs the network: dropped.
    fn run_worker(&mut self) {
        while let Ok(input) = self.inbox.try_recv() {
            if let Input::Frame(frame) = input {
                self.list.handle_frame(&frame);
            }
        }
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

/// A `/media` answer body as the SDK reads it after its first offer (seq
/// 1): the JSON (`MediaResponse`), the ROAP message in
/// `mediaConnections[0].remoteSdp`, the ROAP reply rules, and for an
/// ANSWER its SDP applied to a fresh peer connection's offer, as
/// `add_media` does. `Ok` or a typed error; a panic is a finding.
pub fn media_answer(bytes: &[u8]) -> Result<(), crate::MediaError> {
    use crate::media::roap::{Reply, read_reply};
    use crate::media::session;
    let answer: webex_wire::roap::MediaResponse = serde_json::from_slice(bytes)
        .map_err(|e| crate::MediaError::MalformedAnswer(e.to_string()))?;
    let message = answer
        .roap_message()
        .map_err(|e| crate::MediaError::MalformedAnswer(e.to_string()))?;
    let Reply::Answer { sdp, .. } = read_reply(message, 1, 0)? else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| crate::MediaError::Local(e.to_string()))?;
    runtime.block_on(async {
        let offered = session::offer(&crate::MediaOptions::new(), None, None).await?;
        offered.accept(&sdp).map(|_| ())
    })
}
