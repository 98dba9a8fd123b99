//! Reconnect delays: exponential backoff with full jitter, and `Retry-After`.
//!
//! Full jitter (delay = random(0, min(max, initial·2^attempt))) spreads the
//! reconnects of many clients dropped at the same moment (a server restart)
//! instead of bringing them back in lockstep.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The ceiling of attempt `attempt` (0-based): `min(max, initial·2^attempt)`.
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::mercury::backoff::ceiling;
/// let s = Duration::from_secs(1);
/// assert_eq!(ceiling(s, 32 * s, 0), s);
/// assert_eq!(ceiling(s, 32 * s, 3), 8 * s);
/// assert_eq!(ceiling(s, 32 * s, 40), 32 * s);
/// ```
pub fn ceiling(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    initial.checked_mul(factor).unwrap_or(max).min(max)
}

/// A delay drawn uniformly from `0..=ceiling(initial, max, attempt)`, to the
/// millisecond.
///
/// ```
/// use std::time::Duration;
/// use rand::SeedableRng;
/// use webex_meetings::mercury::backoff::full_jitter;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let d = full_jitter(Duration::from_secs(1), Duration::from_secs(32), 2, &mut rng);
/// assert!(d <= Duration::from_secs(4));
/// ```
pub fn full_jitter(initial: Duration, max: Duration, attempt: u32, rng: &mut impl Rng) -> Duration {
    let top = u64::try_from(ceiling(initial, max, attempt).as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=top))
}

/// Consecutive reconnect attempts and their jittered delays.
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::mercury::backoff::Backoff;
/// let mut b = Backoff::with_seed(Duration::from_millis(100), Duration::from_secs(2), 1);
/// assert!(b.next_delay() <= Duration::from_millis(100));
/// assert!(b.next_delay() <= Duration::from_millis(200));
/// assert_eq!(b.attempt(), 2);
/// b.reset();
/// assert_eq!(b.attempt(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: StdRng,
}

impl Backoff {
    /// A backoff seeded from the operating system.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::from_rng(initial, max, StdRng::from_os_rng())
    }

    /// A reproducible backoff, for tests.
    #[cfg(any(test, feature = "testing"))]
    pub fn with_seed(initial: Duration, max: Duration, seed: u64) -> Self {
        Self::from_rng(initial, max, StdRng::seed_from_u64(seed))
    }

    fn from_rng(initial: Duration, max: Duration, rng: StdRng) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng,
        }
    }

    /// The delay before the next attempt; counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = full_jitter(self.initial, self.max, self.attempt, &mut self.rng);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Attempts counted since the last [`Backoff::reset`].
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts over at the first attempt (after a stable connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Parses a `Retry-After` value defensively — the same rules as every other
/// request of the SDK: seconds (fractions round up) or an HTTP date; anything
/// else (negative numbers, `rand(30),add(30)`) yields `None` so that the
/// normal backoff applies. The result is capped at `cap`.
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::mercury::backoff::parse_retry_after;
/// let cap = Duration::from_secs(128);
/// assert_eq!(parse_retry_after(" 5 ", cap), Some(Duration::from_secs(5)));
/// assert_eq!(parse_retry_after("1.2", cap), Some(Duration::from_secs(2)));
/// assert_eq!(parse_retry_after("99999", cap), Some(cap));
/// assert_eq!(parse_retry_after("rand(30),add(30)", cap), None);
/// ```
pub fn parse_retry_after(value: &str, cap: Duration) -> Option<Duration> {
    crate::http::retry_after::parse(value, std::time::SystemTime::now()).map(|d| d.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn ceiling_doubles_then_caps() {
        let got: Vec<_> = (0..8).map(|a| ceiling(S, 32 * S, a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(ceiling(S, 32 * S, u32::MAX), 32 * S);
        assert_eq!(ceiling(Duration::MAX, Duration::MAX, 5), Duration::MAX);
    }

    #[test]
    fn delays_stay_within_bounds() {
        let mut b = Backoff::with_seed(S, 32 * S, 42);
        for attempt in 0..200u32 {
            let d = b.next_delay();
            assert!(d <= ceiling(S, 32 * S, attempt), "attempt {attempt}: {d:?}");
        }
        assert_eq!(b.attempt(), 200);
    }

    #[test]
    fn jitter_covers_the_whole_range() {
        // At the cap, delays should be spread over [0, 32 s]: both halves and
        // the low and high deciles are hit.
        let mut rng = StdRng::seed_from_u64(3);
        let draws: Vec<u64> = (0..2000)
            .map(|_| full_jitter(S, 32 * S, 10, &mut rng).as_millis() as u64)
            .collect();
        let low = draws.iter().filter(|&&d| d < 3_200).count();
        let high = draws.iter().filter(|&&d| d > 28_800).count();
        let lower_half = draws.iter().filter(|&&d| d < 16_000).count();
        assert!(low > 100 && high > 100, "low {low}, high {high}");
        assert!((800..1200).contains(&lower_half), "lower half {lower_half}");
    }

    #[test]
    fn same_seed_same_delays() {
        let mut a = Backoff::with_seed(S, 32 * S, 9);
        let mut b = Backoff::with_seed(S, 32 * S, 9);
        for _ in 0..20 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::with_seed(S, 32 * S, 1);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= S);
    }

    #[test]
    fn max_below_initial_is_raised() {
        let mut b = Backoff::with_seed(4 * S, S, 1);
        assert_eq!(b.max, 4 * S);
        // Were the maximum left at 1 s, no delay could exceed it; raised to
        // 4 s, one of 50 uniform draws does all but certainly (fixed seed).
        let delays: Vec<Duration> = (0..50).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= 4 * S), "{delays:?}");
        assert!(delays.iter().any(|d| *d > S), "{delays:?}");
    }

    #[test]
    fn retry_after_is_parsed_defensively() {
        let cap = 128 * S;
        assert_eq!(parse_retry_after("0", cap), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("30", cap), Some(30 * S));
        assert_eq!(parse_retry_after("0.5", cap), Some(S));
        assert_eq!(parse_retry_after("1e9", cap), Some(cap));
        assert_eq!(parse_retry_after("-5", cap), None);
        assert_eq!(parse_retry_after("", cap), None);
        // An HTTP date in the past means "now".
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", cap),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("1.2.3", cap), None);
        assert_eq!(parse_retry_after("99999999999999999999999", cap), Some(cap));
    }
}
