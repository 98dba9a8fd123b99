//! Defensive `Retry-After` parsing.
//!
//! Webex has been seen sending `Retry-After: rand(30),add(30)`; a client that
//! insists on an integer crashes on it. Here anything unparseable becomes the
//! policy's default, and every value is capped.

use std::time::{Duration, SystemTime};

/// How long to wait, given a `Retry-After` header value: seconds (fractions
/// round up: waiting a little longer always honours the server) or an HTTP
/// date (RFC 7231). `None` when the value is not understood.
pub(crate) fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.ceil().min(1e9)));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(date);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait to apply: the parsed value, else `default`, never above `cap`.
pub(crate) fn wait(value: Option<&str>, default: Duration, cap: Duration) -> Duration {
    value
        .and_then(|v| parse(v, SystemTime::now()))
        .unwrap_or(default)
        .min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_seconds() {
        assert_eq!(parse("5", SystemTime::now()), Some(Duration::from_secs(5)));
        assert_eq!(parse(" 0 ", SystemTime::now()), Some(Duration::ZERO));
    }

    #[test]
    fn http_date() {
        let now = SystemTime::from(
            chrono::DateTime::parse_from_rfc2822("Sun, 06 Nov 1994 08:49:37 GMT")
                .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_falls_back_and_everything_is_capped() {
        let d = Duration::from_secs(10);
        let cap = Duration::from_secs(60);
        assert_eq!(wait(Some("rand(30),add(30)"), d, cap), d);
        assert_eq!(wait(Some("-3"), d, cap), d);
        assert_eq!(wait(Some("NaN"), d, cap), d);
        assert_eq!(wait(None, d, cap), d);
        assert_eq!(wait(Some("86400"), d, cap), cap);
        assert_eq!(wait(Some("99999999999999999999999"), d, cap), cap);
    }
}
