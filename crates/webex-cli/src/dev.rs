//! `webex serve --dev`: a local Webex with nothing to set up. Two people in
//! one org (created on the first start, found again on later starts with the
//! same database), fresh tokens for them, an admin token, and everything a
//! client needs printed as ready-to-paste configuration for the Rust SDK,
//! the CLI and the official JS SDK.

use std::fmt::Write as _;

use secrecy::{ExposeSecret, SecretString};
use webex_server::identity::admin;
use webex_server::store::Store;
use webex_wire::people::PersonType;

/// The people `--dev` creates (or reuses), in one org (`example.com`).
pub const PEOPLE: [&str; 2] = ["alice@example.com", "bob@example.com"];

/// One of the dev people and the token minted for them on this start.
pub struct DevPerson {
    /// Email.
    pub email: &'static str,
    /// Whether the person was already in the database.
    pub reused: bool,
    /// A token minted on this start (tokens are stored only as hashes, so
    /// those of earlier starts cannot be shown again; they stay valid).
    pub token: SecretString,
}

/// A random admin token for a dev server started without `--admin-token`:
/// two v4 UUIDs (244 random bits) as 64 hex digits.
pub fn generate_admin_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Finds or creates [`PEOPLE`] and mints a token for each, the way
/// `webex token create` does (no expiry).
pub async fn people(store: &dyn Store, region: &str) -> anyhow::Result<Vec<DevPerson>> {
    let mut out = Vec::with_capacity(PEOPLE.len());
    for email in PEOPLE {
        let reused = store.person_by_email(email).await?.is_some();
        let token = admin::create_token(store, region, email, PersonType::Person, None).await?;
        out.push(DevPerson {
            email,
            reused,
            token,
        });
    }
    Ok(out)
}

/// What `webex serve --dev` prints after `listening on <url>`.
pub struct Banner<'a> {
    /// The server's public URL (no trailing slash).
    pub base_url: &'a str,
    /// The database, as shown to people.
    pub database: &'a str,
    /// The dev people and their fresh tokens.
    pub people: &'a [DevPerson],
    /// The admin token.
    pub admin_token: &'a str,
    /// Whether the admin token was generated (no `--admin-token`).
    pub admin_generated: bool,
}

impl Banner<'_> {
    /// The U2C discovery URL (the catalog's mount point).
    pub fn discovery_url(&self) -> String {
        format!("{}{}", self.base_url, webex_server::catalog::U2C_BASE)
    }

    /// The text, one block of lines (no trailing newline).
    pub fn render(&self) -> String {
        let base = self.base_url;
        let discovery = self.discovery_url();
        let host = url::Url::parse(base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "127.0.0.1".into());
        let alice = self.people[0].token.expose_secret();
        let mut s = String::new();
        // `writeln!` into a String cannot fail.
        let mut line = |text: &str| {
            let _ = writeln!(s, "{text}");
        };
        line("");
        line("dev mode: a local Webex for development (rate limits off; not for production)");
        line(&format!("  database    {}", self.database));
        line(&format!("  discovery   {discovery}"));
        line(&format!(
            "  admin token {}   (operator API under {base}/admin/api/v1; {})",
            self.admin_token,
            if self.admin_generated {
                "generated for this start, pass --admin-token to choose one"
            } else {
                "from --admin-token"
            }
        ));
        line("  people (one org, example.com); tokens minted on this start, never expiring,");
        line("  and those printed on earlier starts stay valid:");
        for person in self.people {
            line(&format!(
                "    {:<18} {:<8} {}",
                person.email,
                if person.reused { "reused" } else { "created" },
                person.token.expose_secret()
            ));
        }
        line("");
        line("Rust SDK (webex-meetings), as alice:");
        line(&format!(
            "    let config = WebexConfig::builder(Credentials::access_token(\"{alice}\"))"
        ));
        line(&format!("        .discovery_url(\"{discovery}\")"));
        line("        .build()?;");
        line("  or from the environment, read by WebexConfig::from_env() (as the examples do):");
        line(&format!(
            "    WEBEX_ACCESS_TOKEN={alice} WEBEX_DISCOVERY_URL={discovery} \\"
        ));
        line("      cargo run -p webex-meetings-examples --example events");
        line("");
        line("CLI, as alice:");
        line(&format!(
            "    webex register --server {base} --token {alice}"
        ));
        line(&format!(
            "    webex admin --server {base} --admin-token {} meetings   # the operator API",
            self.admin_token
        ));
        line("");
        line("Official JS SDK (npm install webex), as alice:");
        line("    const Webex = require('webex/meetings');");
        line("    // in a browser: window.Webex from <script src=\"…/webex/umd/meetings.min.js\">");
        line("    // (CORS allows any origin unless --cors-origin is given)");
        line("    const webex = Webex.init({");
        line(&format!(
            "      credentials: {{ access_token: '{alice}' }},"
        ));
        line("      config: {");
        line("        services: {");
        line("          discovery: {");
        line(&format!("            u2c: '{discovery}',"));
        line(&format!("            hydra: '{base}/v1',"));
        line(&format!("            sqdiscovery: '{base}/region',"));
        line("          },");
        line(&format!("          allowedDomains: ['{host}'],"));
        line("        },");
        line("        device: { ephemeral: true },");
        line("      },");
        line("    });");
        line("  in Node (no browser), before that require:");
        line("    globalThis.window = globalThis;");
        line("    if (!globalThis.navigator) {");
        line("      Object.defineProperty(globalThis, 'navigator', {");
        line(
            "        value: { userAgent: `Mozilla/5.0 (X11; Linux x86_64) Node.js/${process.versions.node}` },",
        );
        line("        configurable: true,");
        line("        writable: true,");
        line("      });");
        line("    }");
        line("    globalThis.location = new URL('http://127.0.0.1/');");
        s.pop();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_carries_the_discovery_url_and_tokens() {
        let people = [
            DevPerson {
                email: PEOPLE[0],
                reused: false,
                token: "AAA_PF84_org".into(),
            },
            DevPerson {
                email: PEOPLE[1],
                reused: true,
                token: "BBB_PF84_org".into(),
            },
        ];
        let banner = Banner {
            base_url: "http://127.0.0.1:8080",
            database: "sqlite:///tmp/x.sqlite",
            people: &people,
            admin_token: "adm",
            admin_generated: true,
        };
        let text = banner.render();
        assert!(
            text.contains("  discovery   http://127.0.0.1:8080/u2c/api/v1\n"),
            "{text}"
        );
        assert!(
            text.contains("Credentials::access_token(\"AAA_PF84_org\")"),
            "{text}"
        );
        assert!(
            text.contains("WEBEX_ACCESS_TOKEN=AAA_PF84_org WEBEX_DISCOVERY_URL=http://127.0.0.1:8080/u2c/api/v1"),
            "{text}"
        );
        assert!(
            text.contains("bob@example.com    reused   BBB_PF84_org"),
            "{text}"
        );
        assert!(text.contains("allowedDomains: ['127.0.0.1']"), "{text}");
        assert!(
            text.contains("sqdiscovery: 'http://127.0.0.1:8080/region'"),
            "{text}"
        );
    }

    #[test]
    fn generated_admin_tokens_are_long_and_distinct() {
        let (a, b) = (generate_admin_token(), generate_admin_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
