//! The few HTML pages the authorize endpoint shows: a sign-in-and-consent
//! form and error pages. No JavaScript; every echoed value is escaped.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for use in HTML element content and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}\
input[type=email],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}\
.error{color:#a00;border:1px solid #a00;padding:.5rem}.buttons{margin-top:1rem;display:flex;gap:.5rem}\
code{background:#eee;padding:0 .2rem}";

/// A whole page around `body` (already HTML) with `status` and headers that
/// keep it out of caches and frames.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    );
    let mut res = (status, html).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// An error page. Shown instead of redirecting when the redirect target
/// itself cannot be trusted (unknown client, unregistered redirect URI).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Authorization failed</h1><p class=\"error\">{}</p>\
         <p>Check the link that brought you here, or ask the application's developer.</p>",
        escape(message)
    );
    page(status, "Authorization failed", &body)
}

/// What the consent page shows and carries through to the POST.
pub(crate) struct Consent<'a> {
    /// Where the form posts to (the path the page was shown at).
    pub action: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The scopes being granted.
    pub scope: &'a str,
    /// Hidden fields repeating the authorize request.
    pub hidden: &'a [(&'a str, &'a str)],
    /// Email to prefill.
    pub email: &'a str,
    /// Error from a previous attempt.
    pub error: Option<&'a str>,
}

/// The sign-in-and-consent form.
pub(crate) fn consent_page(status: StatusCode, c: &Consent<'_>) -> Response {
    let mut body = format!(
        "<h1>Authorize {}</h1><p><strong>{}</strong> asks to act on your behalf with these scopes:</p><ul>",
        escape(c.client_name),
        escape(c.client_name)
    );
    for s in c.scope.split_whitespace() {
        body.push_str(&format!("<li><code>{}</code></li>", escape(s)));
    }
    body.push_str("</ul>");
    if let Some(e) = c.error {
        body.push_str(&format!("<p class=\"error\">{}</p>", escape(e)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\">",
        escape(c.action)
    ));
    for (name, value) in c.hidden {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        ));
    }
    body.push_str(&format!(
        "<label for=\"email\">Email</label>\
         <input id=\"email\" type=\"email\" name=\"email\" value=\"{}\" autocomplete=\"username\">\
         <label for=\"token\">Personal access token (from <code>webex token create</code>)</label>\
         <input id=\"token\" type=\"password\" name=\"token\" autocomplete=\"current-password\">\
         <div class=\"buttons\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div></form>",
        escape(c.email)
    ));
    page(status, "Authorize application", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[tokio::test]
    async fn consent_page_escapes_everything_echoed() {
        let res = consent_page(
            StatusCode::OK,
            &Consent {
                action: "/v1/authorize",
                client_name: "<script>x</script>",
                scope: "spark:all <b>",
                hidden: &[("state", "\"><script>")],
                email: "a@b.c\"",
                error: Some("<i>bad</i>"),
            },
        );
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let html = String::from_utf8_lossy(&bytes);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<i>"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
    }
}
