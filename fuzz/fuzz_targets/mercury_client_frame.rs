//! The server reading a Mercury client's text frame: as the first frame
//! (the authorization frame: its token, or the close code and reason) and
//! as any later frame (a ping's id, answered with a pong).
#![no_main]

use libfuzzer_sys::fuzz_target;
use webex_server::fuzzing;
use webex_wire::close;
use webex_wire::mercury::{ClientFrame, ServerFrame};
use webex_wire::token::AccessTokenParts;

fuzz_target!(|data: &[u8]| {
    // Text frames are UTF-8 (tungstenite checks); a binary first frame is
    // closed 4400 before any parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    match fuzzing::mercury_first_frame(text) {
        // On to the token lookup: only with a Webex-shaped token.
        Ok(token) => {
            assert!(token.parse::<AccessTokenParts>().is_ok(), "{token:?}");
            assert_eq!(token, token.trim());
        }
        Err((code, reason)) => {
            assert!(
                code == close::BAD_REQUEST || code == close::AUTH_FAILED,
                "unexpected close code {code}"
            );
            // A close frame carries at most 123 bytes of reason.
            assert!(reason.len() <= 123, "{reason:?}");
            // The reason never echoes the token the client sent.
            if let Ok(ClientFrame::Authorization { data, .. }) =
                serde_json::from_str::<ClientFrame>(text)
            {
                let sent = data.token.trim();
                assert!(sent.len() < 8 || !reason.contains(sent), "{reason:?}");
            }
        }
    }

    // Any later frame: a ping is answered with a pong carrying its id.
    if let Some((id, pong)) = fuzzing::mercury_later_frame(text, 7) {
        let frame: ServerFrame = serde_json::from_str(&pong).expect("the pong is a server frame");
        assert!(frame.is_pong());
        assert_eq!(frame.id, id);
        assert_eq!(frame.sequence_number, Some(7));
        assert!(frame.data.is_none());
    }

    // A client frame that parses writes back as the same frame.
    if let Ok(frame) = serde_json::from_str::<ClientFrame>(text) {
        let written = serde_json::to_string(&frame).expect("a client frame serializes");
        let again: ClientFrame = serde_json::from_str(&written).expect("and parses again");
        assert_eq!(again, frame);
    }
});
