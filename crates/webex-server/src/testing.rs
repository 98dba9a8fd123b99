//! Throwaway servers for tests: an in-process server on an ephemeral port
//! with a fresh SQLite file (or a fresh PostgreSQL database), and tokens
//! minted straight into its store.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let server = webex_server::testing::TestServer::start().await?;
//! let token = server.token_for("alice@example.com").await?;
//! assert!(!token.is_empty());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::path::PathBuf;

use anyhow::Context;
use webex_wire::people::PersonType;

use crate::auth::{TokenSpec, mint_token};
use crate::config::ServerConfig;
use crate::server::{RunningServer, Server};
use crate::store::{NewPerson, PersonRecord};

/// The admin token [`ServerConfig::for_tests`] sets.
pub const ADMIN_TOKEN: &str = "admin-secret";

/// A server that lives as long as the value (call [`TestServer::shutdown`]).
pub struct TestServer {
    server: Option<RunningServer>,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<FreshDatabase>,
}

impl TestServer {
    /// A server on SQLite in a new temporary directory.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], letting `tweak` adjust the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = ServerConfig::for_tests(&dir.path().join("webex.sqlite"));
        tweak(&mut config);
        let server = Server::start(config).await?;
        Ok(Self {
            server: Some(server),
            _dir: Some(dir),
            postgres: None,
        })
    }

    /// A server on a fresh PostgreSQL database created on the server that
    /// `admin_url` points at (dropped at shutdown).
    pub async fn start_postgres(
        admin_url: &str,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> anyhow::Result<Self> {
        let db = FreshDatabase::create(admin_url).await?;
        let mut config = ServerConfig::for_tests(&PathBuf::from("unused"));
        config.database_url = db.url.clone();
        tweak(&mut config);
        let server = Server::start(config).await?;
        Ok(Self {
            server: Some(server),
            _dir: None,
            postgres: Some(db),
        })
    }

    /// The running server.
    pub fn server(&self) -> &RunningServer {
        // Present until shutdown consumes self.
        self.server
            .as_ref()
            .unwrap_or_else(|| unreachable!("server is set until shutdown"))
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        self.server().base_url()
    }

    /// The U2C discovery URL clients should use.
    pub fn discovery_url(&self) -> String {
        format!("{}/u2c/api/v1", self.base_url())
    }

    /// Creates (or finds) a person of type `person` and returns their record.
    pub async fn person(&self, email: &str) -> anyhow::Result<PersonRecord> {
        let store = &self.server().state().store;
        let org = email.rsplit('@').next().unwrap_or("example.com").to_owned();
        Ok(store
            .upsert_person(&NewPerson {
                email: email.to_lowercase(),
                display_name: email.to_owned(),
                kind: PersonType::Person,
                org_name: org,
            })
            .await?)
    }

    /// A never-expiring access token for `email` (created when missing).
    pub async fn token_for(&self, email: &str) -> anyhow::Result<String> {
        self.token_with(email, None).await
    }

    /// An access token for `email` that expires after `ttl_ms` (`None`: never).
    pub async fn token_with(&self, email: &str, ttl_ms: Option<i64>) -> anyhow::Result<String> {
        use secrecy::ExposeSecret;
        let person = self.person(email).await?;
        let state = self.server().state();
        let minted = mint_token(
            &person,
            &state.config.region,
            TokenSpec {
                ttl_ms,
                scope: "spark:all".into(),
                ..TokenSpec::default()
            },
        );
        state.store.insert_token(&minted.record).await?;
        Ok(minted.text.expose_secret().to_owned())
    }

    /// Stops the server and removes its data.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        if let Some(db) = self.postgres.take() {
            db.drop_database().await;
        }
    }
}

/// A PostgreSQL database made for one test (the store suite, [`TestServer`],
/// tests that run `webex serve` processes); [`FreshDatabase::drop_database`]
/// removes it.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use webex_server::testing::FreshDatabase;
///
/// let db = FreshDatabase::create("postgres://postgres@127.0.0.1:5432/test").await?;
/// println!("fresh database at {}", db.url);
/// db.drop_database().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    /// URL of the new database.
    pub url: String,
}

impl FreshDatabase {
    /// Creates `webex_test_<uuid>` on the server `admin_url` points at.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        use sqlx::Connection;
        let name = format!("webex_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: url.to_string(),
            name,
        })
    }

    /// Drops the database, disconnecting whoever still uses it.
    pub async fn drop_database(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

/// Whether this run is CI's (`CI=true`): there, a test that needs a service
/// or a tool which is missing fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The value of the environment variable `name` that names a test service
/// (`WEBEX_TEST_DATABASE_URL`, `WEBEX_TEST_REDIS_URL`): `None` when unset
/// or empty, with a note on stderr, so the caller skips that case — except
/// under `CI=true`, where an unset variable panics, so CI never passes a
/// case it did not run.
///
/// ```
/// use webex_server::testing::{in_ci, service_url};
/// // Under CI=true the same call panics: CI never skips a case.
/// if !in_ci() {
///     assert_eq!(service_url("WEBEX_TEST_NOTHING_SET_HERE"), None);
/// }
/// ```
pub fn service_url(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip_or_fail(&format!("{name} is unset"));
            None
        }
    }
}

/// `WEBEX_TEST_DATABASE_URL` (a PostgreSQL server), as [`service_url`] reads it.
pub fn postgres_url() -> Option<String> {
    service_url("WEBEX_TEST_DATABASE_URL")
}

/// `WEBEX_TEST_REDIS_URL`, as [`service_url`] reads it.
pub fn redis_url() -> Option<String> {
    service_url("WEBEX_TEST_REDIS_URL")
}

/// Notes on stderr that a case is skipped because `why`; under `CI=true`
/// panics instead.
pub fn skip_or_fail(why: &str) {
    assert!(!in_ci(), "CI=true and {why}: CI runs every case");
    eprintln!("skipped: {why}");
}
