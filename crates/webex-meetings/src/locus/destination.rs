//! What a `create()` destination is: a join link, a meeting number, or a
//! SIP URI / email (a person's email names their personal room).

use webex_wire::locus::MeetingInfoRequest;

use super::error::MeetingError;

/// A classified destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// `https://…/meet/…`: a join link.
    Link(String),
    /// Digits (or `wbxmn:<digits>`): a meeting number.
    Number(String),
    /// `user@host` (a leading `sip:` dropped): a SIP URI or an email.
    Sip(String),
}

impl Destination {
    /// Classifies `raw`; anything else is [`MeetingError::InvalidDestination`].
    pub(crate) fn parse(raw: &str) -> Result<Self, MeetingError> {
        let invalid = |reason| MeetingError::InvalidDestination {
            destination: raw.chars().take(256).collect(),
            reason,
        };
        let s = raw.trim();
        if s.is_empty() {
            return Err(invalid("it is empty"));
        }
        if s.len() > 2048 {
            return Err(invalid("it is too long"));
        }
        if s.starts_with("https://") || s.starts_with("http://") {
            return url::Url::parse(s)
                .map(|_| Self::Link(s.to_owned()))
                .map_err(|_| invalid("it is not a valid link"));
        }
        let number = s.strip_prefix("wbxmn:").unwrap_or(s);
        let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::Number(digits));
        }
        let sip = s
            .strip_prefix("sip:")
            .or_else(|| s.strip_prefix("SIP:"))
            .unwrap_or(s);
        match sip.split_once('@') {
            Some((user, host))
                if !user.is_empty() && !host.is_empty() && !sip.contains(char::is_whitespace) =>
            {
                Ok(Self::Sip(sip.to_owned()))
            }
            _ => Err(invalid(
                "expected a SIP URI or email (name@host), a meeting number or a join link",
            )),
        }
    }

    /// The `meetingInfo` body for it.
    pub(crate) fn info_request(&self) -> MeetingInfoRequest {
        let mut body = MeetingInfoRequest {
            support_host_key: Some(true),
            support_country_list: Some(true),
            disable_web_redirect: Some(true),
            ..MeetingInfoRequest::default()
        };
        match self {
            Self::Link(l) => body.meeting_url = Some(l.clone()),
            Self::Number(n) => body.meeting_key = Some(n.clone()),
            Self::Sip(s) => body.sip_url = Some(s.clone()),
        }
        body
    }

    /// The `invitee.address` of a join by address.
    pub(crate) fn invitee(&self) -> String {
        match self {
            Self::Link(l) => l.clone(),
            Self::Number(n) => format!("wbxmn:{n}"),
            Self::Sip(s) => s.clone(),
        }
    }

    /// Whether `other` names the same meeting as this destination (case-
    /// insensitive for SIP URIs).
    pub(crate) fn names(&self, other: &str) -> bool {
        match (self, Self::parse(other)) {
            (Self::Sip(a), Ok(Self::Sip(b))) => a.eq_ignore_ascii_case(&b),
            (a, Ok(b)) => *a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_links_numbers_and_sip_uris() {
        let p = |s| Destination::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            p("https://h/meet/room1"),
            Destination::Link("https://h/meet/room1".into())
        );
        assert_eq!(p("123 456 789"), Destination::Number("123456789".into()));
        assert_eq!(p("wbxmn:42"), Destination::Number("42".into()));
        assert_eq!(
            p(" sip:Room1@example.com "),
            Destination::Sip("Room1@example.com".into())
        );
        assert_eq!(p("alice@example.com").invitee(), "alice@example.com");
        assert_eq!(p("42").invitee(), "wbxmn:42");
        for bad in ["", "   ", "room1", "@host", "a b@c", "http://[bad"] {
            assert!(
                matches!(
                    Destination::parse(bad),
                    Err(MeetingError::InvalidDestination { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn info_requests_name_the_destination_once() {
        let body = Destination::parse("room1@example.com")
            .unwrap_or_else(|e| panic!("{e}"))
            .info_request();
        assert_eq!(body.sip_url.as_deref(), Some("room1@example.com"));
        assert_eq!(body.meeting_key, None);
        assert_eq!(body.disable_web_redirect, Some(true));
        let body = Destination::parse("42")
            .unwrap_or_else(|e| panic!("{e}"))
            .info_request();
        assert_eq!(body.meeting_key.as_deref(), Some("42"));
    }

    #[test]
    fn the_same_meeting_is_recognised_whatever_the_spelling() {
        let d = Destination::parse("Room1@Example.com").unwrap_or_else(|e| panic!("{e}"));
        assert!(d.names("sip:room1@example.com"));
        assert!(!d.names("room2@example.com"));
        let n = Destination::parse("wbxmn:42").unwrap_or_else(|e| panic!("{e}"));
        assert!(n.names("42"));
    }
}
