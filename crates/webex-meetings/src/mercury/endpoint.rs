//! The URL the socket opens: the device's `webSocketUrl` plus Mercury's query
//! parameters, merged with any query the URL already has.

use url::Url;

use super::MercuryError;

/// Parameters every connection asks for (text frames, a buffer_state first,
/// HTTP statuses aliased into close codes).
const FIXED_PARAMS: [(&str, &str); 3] = [
    ("outboundWireFormat", "text"),
    ("bufferStates", "true"),
    ("aliasHttpStatus", "true"),
];
/// Lets several sockets share one (ephemeral) device.
const MULTIPLE_CONNECTIONS: (&str, &str) = ("multipleConnections", "true");

/// `web_socket_url` with Mercury's query parameters. Existing parameters are
/// kept (in order); ones this client sets are replaced, never duplicated.
/// `http(s)` URLs are turned into `ws(s)`.
pub(super) fn socket_url(
    web_socket_url: &str,
    multiple_connections: bool,
) -> Result<Url, MercuryError> {
    let mut url = Url::parse(web_socket_url)
        .map_err(|e| MercuryError::Connect(format!("invalid webSocketUrl: {e}")))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(MercuryError::Connect(format!(
                "unsupported webSocketUrl scheme `{other}`"
            )));
        }
    };
    if url.scheme() != scheme && url.set_scheme(scheme).is_err() {
        return Err(MercuryError::Connect(
            "cannot use webSocketUrl as a websocket URL".into(),
        ));
    }
    if url.host_str().is_none() {
        return Err(MercuryError::Connect("webSocketUrl has no host".into()));
    }

    let ours: Vec<(&str, &str)> = FIXED_PARAMS
        .into_iter()
        .chain(multiple_connections.then_some(MULTIPLE_CONNECTIONS))
        .collect();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !ours.iter().any(|(name, _)| name == k) && *k != MULTIPLE_CONNECTIONS.0)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        for (k, v) in &ours {
            query.append_pair(k, v);
        }
    }
    url.set_fragment(None);
    Ok(url)
}

/// The URL without query or credentials, for logs and spans.
pub(super) fn loggable(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Like [`loggable`], for a URL that may not parse.
pub(super) fn loggable_str(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => loggable(&u),
        Err(_) => "<invalid url>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_parameters() {
        let url = socket_url(
            "wss://m.example/v1/apps/wx2/registrations/d1/messages",
            false,
        )
        .expect("valid url");
        assert_eq!(
            url.as_str(),
            "wss://m.example/v1/apps/wx2/registrations/d1/messages?outboundWireFormat=text&bufferStates=true&aliasHttpStatus=true"
        );
    }

    #[test]
    fn keeps_an_existing_query() {
        let url =
            socket_url("wss://m.example/messages?region=eu&x=a%20b", true).expect("valid url");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let expected = [
            ("region", "eu"),
            ("x", "a b"),
            ("outboundWireFormat", "text"),
            ("bufferStates", "true"),
            ("aliasHttpStatus", "true"),
            ("multipleConnections", "true"),
        ];
        assert_eq!(pairs.len(), expected.len());
        for ((k, v), (ek, ev)) in pairs.iter().zip(expected) {
            assert_eq!((k.as_str(), v.as_str()), (ek, ev));
        }
    }

    #[test]
    fn never_duplicates_parameters() {
        let once = socket_url(
            "ws://127.0.0.1:1/m?bufferStates=false&multipleConnections=true",
            false,
        )
        .expect("valid url");
        let twice = socket_url(once.as_str(), false).expect("valid url");
        assert_eq!(once, twice);
        assert_eq!(
            twice
                .query_pairs()
                .filter(|(k, _)| k == "bufferStates")
                .count(),
            1
        );
        assert!(!twice.query_pairs().any(|(k, _)| k == "multipleConnections"));
    }

    #[test]
    fn maps_http_schemes_and_rejects_others() {
        let url = socket_url("https://m.example/m", false).expect("valid url");
        assert_eq!(url.scheme(), "wss");
        let url = socket_url("http://127.0.0.1:8080/m", false).expect("valid url");
        assert_eq!(url.scheme(), "ws");
        assert!(matches!(
            socket_url("ftp://x/m", false),
            Err(MercuryError::Connect(_))
        ));
        assert!(matches!(
            socket_url("not a url", false),
            Err(MercuryError::Connect(_))
        ));
    }

    #[test]
    fn loggable_url_has_no_query_or_credentials() {
        let url = Url::parse("wss://user:pw@m.example/m?token=secret#f").expect("valid url");
        assert_eq!(loggable(&url), "wss://m.example/m");
    }
}
