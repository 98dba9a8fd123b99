//! Caller text in error messages: at most a short, sanitized prefix of what
//! the caller sent, so an answer never echoes a long string (or control or
//! bidi override characters) back, and its size does not grow with the
//! request.
//!
//! ```
//! use webex_server::quote::{MAX_QUOTED_CHARS, prefix, sanitize_message};
//!
//! assert_eq!(prefix("multipart"), "multipart");
//! let long = "A".repeat(10_000);
//! assert_eq!(prefix(&long).chars().count(), MAX_QUOTED_CHARS + 1);
//! assert_eq!(prefix("a\u{202e}b\nc"), "a\u{fffd}b\u{fffd}c");
//!
//! let serde = format!("invalid type: string \"{long}\", expected u32 at line 1 column 10008");
//! let msg = sanitize_message(&serde);
//! assert!(msg.starts_with("invalid type: string \"AAAA"));
//! assert!(msg.ends_with("…\", expected u32 at line 1 column 10008"));
//! assert!(msg.len() < 100);
//! ```

/// Most characters of one piece of caller text quoted in a message.
pub const MAX_QUOTED_CHARS: usize = 32;

/// Most characters of a whole message built around caller text.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Whether `c` may not appear in a message: control characters and the
/// invisible formatting ones (bidi embeddings, overrides and isolates,
/// zero-width characters).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

fn clean(c: char) -> char {
    if unsafe_char(c) { '\u{fffd}' } else { c }
}

/// `text` cut to [`MAX_QUOTED_CHARS`] characters (`…` marks a cut), with
/// control and formatting characters replaced by U+FFFD.
pub fn prefix(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_QUOTED_CHARS).map(clean).collect();
    if text.chars().nth(MAX_QUOTED_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// A message that quotes caller text (serde's `invalid type: string "…"`,
/// ``unknown variant `…` ``) with every quoted run reduced to its
/// [`prefix`], unsafe characters replaced elsewhere too, and the whole
/// capped at [`MAX_MESSAGE_CHARS`].
pub fn sanitize_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 8));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        out.extend(rest[..open].chars().map(clean));
        let quote = rest[open..].chars().next().unwrap_or('"');
        let inner = &rest[open + 1..];
        let close = closing_quote(inner, quote).unwrap_or(inner.len());
        out.push(quote);
        out.push_str(&prefix(&inner[..close]));
        if close < inner.len() {
            out.push(quote);
            rest = &inner[close + 1..];
        } else {
            rest = "";
        }
    }
    out.extend(rest.chars().map(clean));
    if out.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        out = out.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
    }
    out
}

/// Where the quote `q` opened before `inner` closes (a `"` escaped with a
/// backslash, as serde writes strings, does not close it).
fn closing_quote(inner: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            '\\' if q == '"' && !escaped => escaped = true,
            c if c == q && !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quoted_run_is_cut() {
        let long = "z".repeat(500);
        let msg = sanitize_message(&format!(
            "unknown variant `{long}`, expected `a` or `{long}`"
        ));
        assert_eq!(msg.matches('z').count(), 2 * MAX_QUOTED_CHARS, "{msg}");
        assert!(msg.contains("expected `a` or `"), "{msg}");
    }

    #[test]
    fn escaped_quotes_stay_inside_the_run() {
        let msg = sanitize_message(r#"string "a\"b", expected u8"#);
        assert_eq!(msg, r#"string "a\"b", expected u8"#);
    }

    #[test]
    fn an_unclosed_quote_is_cut_too() {
        let msg = sanitize_message(&format!("string \"{}", "y".repeat(100)));
        assert_eq!(msg.matches('y').count(), MAX_QUOTED_CHARS);
    }

    #[test]
    fn the_whole_message_is_bounded() {
        let msg = sanitize_message(&"word ".repeat(1000));
        assert_eq!(msg.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn only_control_and_formatting_characters_are_replaced() {
        assert_eq!(prefix("<b>\u{202e}"), "<b>\u{fffd}");
    }
}
