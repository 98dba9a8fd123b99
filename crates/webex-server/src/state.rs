//! The state every handler shares.

use std::sync::Arc;

use crate::auth_cache::AuthCache;
use crate::bus::Bus;
use crate::config::ServerConfig;
use crate::mercury::Hub;
use crate::store::Store;

/// Cheap to clone; everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared parts of [`AppState`].
pub struct Inner {
    /// Configuration the server started with.
    pub config: ServerConfig,
    /// `config.public_url`, or `http://<bound address>`; no trailing slash.
    pub public_url: String,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// Cross-node event bus. Wrap it in
    /// [`InvalidatingBus`](crate::auth_cache::InvalidatingBus) with
    /// `auth_cache`, so local revocations invalidate the cache synchronously.
    pub bus: Arc<dyn Bus>,
    /// Recently authenticated callers by token hash.
    pub auth_cache: AuthCache,
    /// This node's Mercury connections.
    pub hub: Hub,
    /// Loci whose last event this node could not publish.
    pub locus_backlog: crate::locus::republish::Backlog,
    /// The key that signs `permissionToken`s: the configured one, else the
    /// deployment's shared key from the store.
    pub permission_key: secrecy::SecretString,
    /// This node's media engine (or why media is off) and relayed offers.
    pub media: crate::media::MediaService,
    /// Prometheus exporter handle, rendered at `/metrics`.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// Base URL of a catalog service hosted here, e.g. `wdm` →
    /// `<public>/wdm/api/v1`.
    pub fn service_url(&self, path: &str) -> String {
        format!("{}/{}", self.public_url, path.trim_start_matches('/'))
    }

    /// The websocket base: the public URL with `http` → `ws`, `https` → `wss`.
    pub fn public_ws_url(&self) -> String {
        if let Some(rest) = self.public_url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.public_url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.public_url.clone()
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
