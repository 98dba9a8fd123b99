//! Meeting addresses: what a client may name a meeting by, and the names,
//! numbers and links this server gives meeting spaces.
//!
//! A space is `name@<sip domain>`, has a meeting number (digits) and a join
//! link `{public}/meet/<name>`. A person's email names their personal room.

use rand::Rng;

/// Longest space name accepted.
pub const MAX_NAME_LEN: usize = 64;
/// Digits of a meeting number.
pub const MEETING_NUMBER_DIGITS: usize = 10;

/// What an address names, before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A space in this server's SIP domain (or its join link), by name.
    Space(String),
    /// An email address elsewhere: the personal room of that person, if any.
    Email(String),
    /// A meeting number.
    Number(String),
    /// Nothing this server hosts.
    Foreign,
}

/// Classifies `address` (a SIP URI, an email, a join link, a meeting number
/// or `wbxmn:<number>`) for a server with `sip_domain` and `public_url`.
///
/// ```
/// use webex_server::locus::address::{classify, Address};
/// let c = |a| classify(a, "webex.localhost", "http://127.0.0.1:8080");
/// assert_eq!(c("Room1@webex.localhost"), Address::Space("room1".into()));
/// assert_eq!(c("sip:room1@webex.localhost"), Address::Space("room1".into()));
/// assert_eq!(c("http://127.0.0.1:8080/meet/room1"), Address::Space("room1".into()));
/// assert_eq!(c("alice@example.com"), Address::Email("alice@example.com".into()));
/// assert_eq!(c("wbxmn:1234567890"), Address::Number("1234567890".into()));
/// assert_eq!(c("https://elsewhere.example/meet/x"), Address::Foreign);
/// ```
pub fn classify(address: &str, sip_domain: &str, public_url: &str) -> Address {
    let a = address.trim();
    if a.len() > 512 || a.chars().any(char::is_control) {
        return Address::Foreign;
    }
    if let Some(link) = a
        .strip_prefix(public_url.trim_end_matches('/'))
        .and_then(|rest| rest.strip_prefix("/meet/"))
    {
        let name = link.split(['?', '#']).next().unwrap_or_default();
        return valid_name(&name.to_ascii_lowercase()).map_or(Address::Foreign, Address::Space);
    }
    if a.contains("://") {
        return Address::Foreign;
    }
    let a = a
        .strip_prefix("sip:")
        .or_else(|| a.strip_prefix("SIP:"))
        .unwrap_or(a);
    let number = a.strip_prefix("wbxmn:").unwrap_or(a);
    let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Address::Number(digits);
    }
    let lower = a.to_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return Address::Foreign;
    };
    if local.is_empty() || domain.is_empty() || lower.len() > 254 {
        return Address::Foreign;
    }
    if domain == sip_domain.to_ascii_lowercase() {
        return valid_name(local).map_or(Address::Foreign, Address::Space);
    }
    Address::Email(lower)
}

/// Whether `id` could be an id this server minted (a UUID or similar):
/// 1 to 64 ASCII letters, digits and `-`. Anything else is looked up
/// nowhere (some databases reject control characters outright).
///
/// ```
/// use webex_server::locus::address::plausible_id;
/// assert!(plausible_id("6b1c2d3e-0000-4000-8000-000000000001"));
/// assert!(!plausible_id("a\u{0}b"));
/// assert!(!plausible_id(""));
/// ```
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `s` without control characters, at most `max` characters long, for
/// free-form client values that are stored (device types, correlation ids).
pub fn clean(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// `name` when it is a valid space name: 1 to [`MAX_NAME_LEN`] characters
/// of `a-z 0-9 . _ -`, not starting or ending with `.`.
pub fn valid_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    ok.then(|| name.to_owned())
}

/// Whether `name` is reserved for personal rooms: every personal room's
/// name holds a dot (its owner's email with `@` → `.`), and no other space
/// may be made with one, so nobody takes a person's room address before
/// they first use it.
///
/// ```
/// use webex_server::locus::address::is_reserved_for_personal_rooms;
/// assert!(is_reserved_for_personal_rooms("frank.example.com"));
/// assert!(!is_reserved_for_personal_rooms("standup"));
/// ```
pub fn is_reserved_for_personal_rooms(name: &str) -> bool {
    name.contains('.')
}

/// The space name of the personal room of the person with `email`
/// (`alice@example.com` → `alice.example.com`), with `suffix` appended when
/// the plain name is taken.
///
/// ```
/// use webex_server::locus::address::personal_room_name;
/// assert_eq!(personal_room_name("Alice+x@Example.com", None), "alice-x.example.com");
/// assert_eq!(personal_room_name("a@b.c", Some("1f2e")), "a.b.c-1f2e");
/// ```
pub fn personal_room_name(email: &str, suffix: Option<&str>) -> String {
    let mut name: String = email
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '@' => '.',
            c if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' => c,
            _ => '-',
        })
        .collect();
    let keep = MAX_NAME_LEN - suffix.map_or(0, |s| s.len() + 1);
    name.truncate(keep);
    let mut name = name.trim_matches('.').to_owned();
    if name.is_empty() {
        name.push_str("room");
    }
    if let Some(s) = suffix {
        name.push('-');
        name.push_str(s);
    }
    name
}

/// The emails whose personal room could be named `name` (each `.` read as
/// the `@`, with and without a `-suffix` after the last dot), at most
/// [`MAX_OWNER_CANDIDATES`]; whoever of them exists and has
/// [`personal_room_name`] equal to `name` owns it. Emails with characters
/// the name replaces by `-` (`+`, non-ASCII) are not found this way.
///
/// ```
/// use webex_server::locus::address::personal_room_owner_candidates;
/// let c = personal_room_owner_candidates("frank.example.com");
/// assert_eq!(c, ["frank@example.com", "frank.example@com"]);
/// assert!(personal_room_owner_candidates("a.b.c-1f2e").contains(&"a@b.c".to_owned()));
/// ```
pub fn personal_room_owner_candidates(name: &str) -> Vec<String> {
    let mut bases = vec![name];
    if let Some((base, suffix)) = name.rsplit_once('-')
        && !suffix.contains('.')
        && base.contains('.')
    {
        bases.push(base);
    }
    let mut out = Vec::new();
    for base in bases {
        for (i, _) in base.match_indices('.') {
            let (local, domain) = (&base[..i], &base[i + 1..]);
            if !local.is_empty() && !domain.is_empty() && out.len() < MAX_OWNER_CANDIDATES {
                out.push(format!("{local}@{domain}"));
            }
        }
    }
    out
}

/// Most emails [`personal_room_owner_candidates`] gives for one name.
pub const MAX_OWNER_CANDIDATES: usize = 8;

/// A random meeting number of [`MEETING_NUMBER_DIGITS`] digits, not
/// starting with 0.
pub fn random_meeting_number() -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(MEETING_NUMBER_DIGITS);
    out.push(char::from(b'1' + rng.random_range(0..9u8)));
    for _ in 1..MEETING_NUMBER_DIGITS {
        out.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    out
}

/// The SIP URI of space `name`.
pub fn sip_uri(name: &str, sip_domain: &str) -> String {
    format!("{name}@{sip_domain}")
}

/// The join link of space `name`.
pub fn join_url(public_url: &str, name: &str) -> String {
    format!("{public_url}/meet/{name}")
}

/// Whether `domain` has exactly three labels (which the official SDK treats
/// as a Webex site and contacts directly).
pub fn has_three_labels(domain: &str) -> bool {
    domain.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        let c = |a| classify(a, "webex.localhost", "http://h:1");
        assert_eq!(c("  123 456 789 "), Address::Number("123456789".into()));
        assert_eq!(c("x@WEBEX.localhost"), Address::Space("x".into()));
        assert_eq!(c(".x@webex.localhost"), Address::Foreign);
        assert_eq!(c("x y@webex.localhost"), Address::Foreign);
        assert_eq!(c("http://h:1/meet/Room?x=1"), Address::Space("room".into()));
        assert_eq!(c("http://h:1/meet/"), Address::Foreign);
        assert_eq!(c("nobody"), Address::Foreign);
        assert_eq!(c("@x"), Address::Foreign);
        assert_eq!(c(""), Address::Foreign);
        assert_eq!(c("a\u{0}@example.com"), Address::Foreign);
    }

    #[test]
    fn meeting_numbers_have_ten_digits() {
        for _ in 0..100 {
            let n = random_meeting_number();
            assert_eq!(n.len(), MEETING_NUMBER_DIGITS);
            assert!(!n.starts_with('0'));
            assert!(n.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn personal_room_names_are_valid() {
        for email in ["a@b.c", "Ünï@x.y", &format!("{}@x.y", "z".repeat(100)), "@"] {
            for suffix in [None, Some("abcdef")] {
                let n = personal_room_name(email, suffix);
                assert_eq!(valid_name(&n), Some(n.clone()), "{email} → {n}");
            }
        }
    }

    #[test]
    fn the_default_domain_is_not_three_labels() {
        assert!(!has_three_labels(crate::config::DEFAULT_SIP_DOMAIN));
        assert!(has_three_labels("meet.webex.localhost"));
    }
}
