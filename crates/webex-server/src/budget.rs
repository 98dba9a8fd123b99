//! Budgets for free-form text that the server stores or reflects: names,
//! unknown device fields, OAuth `state`. Each check names the field and the
//! budget in its 400 message.
//!
//! Names must also be safe to show: no control characters (NUL, newlines,
//! escape sequences) and no bidirectional overrides or isolates, which make
//! a name render as something else (U+202E shows `exe.jpg` reversed, so a `.exe` looks like a `.jpg`).
//!
//! ```
//! use webex_server::budget::check_name;
//! assert!(check_name("name", "Ada Lovelace").is_ok());
//! assert!(check_name("name", "ab\u{202E}cd").is_err());
//! assert!(check_name("name", "nul\0").is_err());
//! ```

use crate::error::ApiError;

/// Longest display or device name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Largest OAuth `state` echoed back to a client, in bytes.
pub const MAX_STATE_BYTES: usize = 1024;
/// Largest set of unknown device fields stored with a device, in bytes of
/// JSON.
pub const MAX_DEVICE_EXTRA_BYTES: usize = 16 * 1024;

/// Whether `c` reorders or hides text when displayed: bidirectional
/// embeddings, overrides and isolates, and the Arabic letter mark.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// Why a name is refused, as the 400 message; `None` when it is fine.
pub fn name_problem(field: &str, value: &str) -> Option<String> {
    if value.chars().count() > MAX_NAME_CHARS {
        return Some(format!(
            "`{field}` is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Some(format!(
            "`{field}` contains the control character U+{:04X}",
            u32::from(c)
        ));
    }
    if let Some(c) = value.chars().find(|c| is_bidi_control(*c)) {
        return Some(format!(
            "`{field}` contains the bidirectional control character U+{:04X}",
            u32::from(c)
        ));
    }
    None
}

/// 400 when `value` is not an acceptable name (see [`name_problem`]).
pub fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    match name_problem(field, value) {
        Some(message) => Err(ApiError::bad_request(message)),
        None => Ok(()),
    }
}

/// Why a client-chosen identifier that others see (a join's
/// `correlationId`, a device type) is refused, as the 400 message; `None`
/// when it is fine: 1 to `max` ASCII letters, digits and `. _ : -` — no
/// markup, no spaces, nothing that renders as something else.
///
/// ```
/// use webex_server::budget::identifier_problem;
/// assert!(identifier_problem("correlationId", "6b1c-42", 128).is_none());
/// assert!(identifier_problem("correlationId", "<b>hi</b>", 128).is_some());
/// assert!(identifier_problem("deviceType", "WEB\u{202E}", 32).is_some());
/// ```
pub fn identifier_problem(field: &str, value: &str, max: usize) -> Option<String> {
    if value.is_empty() || value.len() > max {
        return Some(format!("`{field}` must be 1 to {max} characters"));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._:-".contains(&b);
    if !value.bytes().all(allowed) {
        return Some(format!(
            "`{field}` may only hold ASCII letters, digits and `. _ : -`"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_within_budget_pass() {
        assert!(check_name("name", &"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(check_name("name", "Zoë 山田 – ok").is_ok());
    }

    #[test]
    fn names_over_budget_or_unsafe_are_refused() {
        let msg = |v: &str| name_problem("name", v).unwrap_or_default();
        assert!(msg(&"a".repeat(MAX_NAME_CHARS + 1)).contains("longer than 256"));
        assert!(msg("a\nb").contains("U+000A"));
        assert!(msg("a\u{2067}b").contains("U+2067"));
        assert!(msg("a\u{202E}b").contains("bidirectional"));
    }
}
