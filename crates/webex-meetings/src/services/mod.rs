//! Service URLs: where each Webex service lives, as far as the SDK knows.
//!
//! Before the first catalog only `hydra` is known (Webex's public API, or
//! `<base>/v1` of a self-hosted server). Every catalog fetched after that
//! ([`catalog::fetch`]) is adopted with [`Services::adopt`]: its
//! `serviceLinks` replace what was known under the same names, and names it
//! does not list keep their last known URL. The credentials read `hydra` and
//! the token endpoint from here; registration reads `wdm`; the meetings code
//! to come reads `locus` and friends through [`Services::url`].

pub(crate) mod catalog;
pub(crate) mod trust;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{PoisonError, RwLock};

use webex_wire::catalog::{Catalog, services};

use crate::config::DEFAULT_TOKEN_URL;

/// The service URLs learned so far; shared by the credentials and the
/// registration.
pub(crate) struct Services {
    /// `serviceLinks` of every catalog adopted so far, without trailing
    /// slashes.
    learned: RwLock<BTreeMap<String, String>>,
    /// `hydra` until a catalog names one.
    default_hydra: String,
    /// A token URL the app set explicitly; the catalog never moves it.
    explicit_token_url: Option<String>,
    /// Self-hosted: the token endpoint is `<hydra>/access_token`.
    self_hosted: bool,
    /// Hosts trusted with the token besides the `serviceLinks` hosts: the
    /// configured ones and every `hostCatalog` host (see [`trust`]).
    trusted: RwLock<BTreeSet<String>>,
}

impl Services {
    /// Nothing learned yet: `hydra` is `default_hydra`.
    pub(crate) fn new(
        default_hydra: String,
        explicit_token_url: Option<String>,
        self_hosted: bool,
    ) -> Self {
        Self {
            learned: RwLock::new(BTreeMap::new()),
            default_hydra,
            explicit_token_url,
            self_hosted,
            trusted: RwLock::new(BTreeSet::new()),
        }
    }

    /// Trusts `url`'s host with the token (the configured discovery, API
    /// and token URLs).
    pub(crate) fn trust_url(&self, url: &str) {
        if let Some(host) = trust::host_of(url) {
            self.trusted
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(host);
        }
    }

    /// Whether a request to `url` may carry the bearer token: its host is a
    /// catalog host, a configured one, or in an allowed domain.
    pub(crate) fn trusts(&self, url: &url::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let mut hosts = self
            .trusted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        hosts.extend(
            self.learned
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .filter_map(|u| trust::host_of(u)),
        );
        if let Some(h) = trust::host_of(&self.default_hydra) {
            hosts.insert(h);
        }
        trust::allowed(host, &hosts, trust::DEFAULT_ALLOWED_DOMAINS)
    }

    /// The base URL of the service `name` (see
    /// [`webex_wire::catalog::services`]), if a catalog listed it.
    pub(crate) fn url(&self, name: &str) -> Option<String> {
        self.learned
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The public API base (`people/me`, `jwt/login`): the catalog's `hydra`
    /// once known, else the default.
    pub(crate) fn hydra(&self) -> String {
        self.url(services::HYDRA)
            .unwrap_or_else(|| self.default_hydra.clone())
    }

    /// The device registry (WDM) base, once a catalog listed it.
    pub(crate) fn wdm(&self) -> Option<String> {
        self.url(services::WDM)
    }

    /// The OAuth token endpoint: the explicit one, else `<hydra>/access_token`
    /// on a self-hosted server, else Webex's.
    pub(crate) fn token_url(&self) -> String {
        match &self.explicit_token_url {
            Some(url) => url.clone(),
            None if self.self_hosted => format!("{}/access_token", self.hydra()),
            None => DEFAULT_TOKEN_URL.to_owned(),
        }
    }

    /// Every service URL learned so far (what a warm start remembers).
    pub(crate) fn links(&self) -> BTreeMap<String, String> {
        self.learned
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adopts remembered service URLs (a warm start, before the catalog
    /// answers; the catalog then replaces whatever it lists).
    pub(crate) fn adopt_links(&self, links: &BTreeMap<String, String>) {
        let mut learned = self.learned.write().unwrap_or_else(PoisonError::into_inner);
        for (name, url) in links {
            learned.insert(name.clone(), url.trim_end_matches('/').to_owned());
        }
    }

    /// Adopts the catalog's service URLs (a new `hydra` moves a self-hosted
    /// server's token endpoint with it).
    pub(crate) fn adopt(&self, catalog: &Catalog) {
        {
            let mut trusted = self.trusted.write().unwrap_or_else(PoisonError::into_inner);
            for (key, entries) in &catalog.host_catalog {
                trusted.insert(trust::catalog_key_host(key));
                trusted.extend(entries.iter().map(|e| trust::catalog_key_host(&e.host)));
            }
        }
        let mut learned = self.learned.write().unwrap_or_else(PoisonError::into_inner);
        for (name, url) in &catalog.service_links {
            learned.insert(name.clone(), url.trim_end_matches('/').to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(links: &[(&str, &str)]) -> Catalog {
        Catalog {
            service_links: links
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Catalog::default()
        }
    }

    #[test]
    fn catalog_urls_replace_the_defaults_and_are_kept() {
        let s = Services::new("http://h:1/v1".into(), None, true);
        assert_eq!(s.hydra(), "http://h:1/v1");
        assert_eq!(s.token_url(), "http://h:1/v1/access_token");
        assert_eq!(s.wdm(), None);

        s.adopt(&catalog(&[
            ("hydra", "http://h:2/v1/"),
            ("wdm", "http://h:2/wdm/api/v1"),
            ("locus", "http://h:2/locus/api/v1"),
        ]));
        assert_eq!(s.hydra(), "http://h:2/v1");
        assert_eq!(s.token_url(), "http://h:2/v1/access_token");
        assert_eq!(s.wdm().as_deref(), Some("http://h:2/wdm/api/v1"));
        assert_eq!(
            s.url(services::LOCUS).as_deref(),
            Some("http://h:2/locus/api/v1")
        );

        // A later catalog without `hydra` keeps the one learned before.
        s.adopt(&catalog(&[("wdm", "http://h:3/wdm/api/v1")]));
        assert_eq!(s.hydra(), "http://h:2/v1");
        assert_eq!(s.wdm().as_deref(), Some("http://h:3/wdm/api/v1"));
    }

    #[test]
    fn an_explicit_token_url_never_moves() {
        let s = Services::new("http://h:1/v1".into(), Some("http://t/token".into()), true);
        s.adopt(&catalog(&[("hydra", "http://h:2/v1")]));
        assert_eq!(s.token_url(), "http://t/token");
        let cloud = Services::new("https://webexapis.com/v1".into(), None, false);
        assert_eq!(cloud.token_url(), DEFAULT_TOKEN_URL);
    }
}
