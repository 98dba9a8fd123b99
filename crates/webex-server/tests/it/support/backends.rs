//! The backend matrix: run a case on SQLite and, when
//! `WEBEX_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database.

use std::time::Duration;

use anyhow::Context;
use webex_server::ServerConfig;
use webex_server::testing::TestServer;

/// Longest one case may take on one backend.
const CASE_GUARD: Duration = Duration::from_secs(60);

/// The PostgreSQL server the tests may use, if any.
pub fn postgres_url() -> Option<String> {
    webex_server::testing::postgres_url()
}

/// Runs `case` on a server per backend (SQLite, then PostgreSQL when
/// configured), one after the other, each configured by `tweak` and shut
/// down after its case; the error names the backend that failed.
pub async fn on_every_backend(
    tweak: impl Fn(&mut ServerConfig),
    case: impl AsyncFn(&TestServer) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut backends = vec![None];
    backends.extend(postgres_url().map(Some));
    for postgres in backends {
        let server = match &postgres {
            None => TestServer::start_with(&tweak).await,
            Some(url) => TestServer::start_postgres(url, &tweak).await,
        }
        .context("starting the server")?;
        let backend = server.server().state().store.backend();
        let outcome = tokio::time::timeout(CASE_GUARD, case(&server)).await;
        server.shutdown().await;
        outcome
            .with_context(|| format!("{backend}: timed out"))?
            .with_context(|| format!("{backend}: failed"))?;
    }
    Ok(())
}

/// A test named `$name` that runs `$case(&TestServer)` on every backend
/// (see [`on_every_backend`]), with the configuration `$tweak` (default:
/// none).
macro_rules! on_every_backend {
    ($name:ident, $case:expr) => {
        on_every_backend!($name, $case, |_| {});
    };
    ($name:ident, $case:expr, $tweak:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> anyhow::Result<()> {
            $crate::support::on_every_backend($tweak, $case).await
        }
    };
}
