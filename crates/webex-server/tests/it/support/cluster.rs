//! Two in-process nodes behind one PostgreSQL database and one Redis bus.
#![allow(clippy::unwrap_used)]

use webex_server::ServerConfig;
use webex_server::testing::TestServer;

/// Two nodes, `a` and `b`, sharing a fresh PostgreSQL database and the Redis
/// at `WEBEX_TEST_REDIS_URL`.
pub struct Cluster {
    /// The node that created the database.
    pub a: TestServer,
    /// The second node.
    pub b: TestServer,
}

impl Cluster {
    /// Starts both nodes; `None` (with a note on stderr) when
    /// `WEBEX_TEST_REDIS_URL` or `WEBEX_TEST_DATABASE_URL` is unset.
    pub async fn start() -> Option<Self> {
        let redis = webex_server::testing::redis_url()?;
        Self::start_on(redis.clone(), redis, |_| {}).await
    }

    /// Starts `a` on the Redis at `redis_a` and `b` on the one at `redis_b`
    /// (the same server, possibly through a proxy), both configured by
    /// `tweak`; `None` (with a note on stderr) when
    /// `WEBEX_TEST_DATABASE_URL` is unset.
    pub async fn start_on(
        redis_a: String,
        redis_b: String,
        tweak: impl Fn(&mut ServerConfig),
    ) -> Option<Self> {
        let db = webex_server::testing::postgres_url()?;
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let a = TestServer::start_postgres(&db, |c| {
            tweak(c);
            c.redis_url = Some(redis_a);
            c.node_id = format!("a-{suffix}");
        })
        .await
        .unwrap();
        let shared_db = a.server().state().config.database_url.clone();
        let b = TestServer::start_with(|c| {
            tweak(c);
            c.redis_url = Some(redis_b);
            c.database_url = shared_db;
            c.node_id = format!("b-{suffix}");
        })
        .await
        .unwrap();
        Some(Self { a, b })
    }

    /// Stops `b`, then `a` (which drops the database).
    pub async fn shutdown(self) {
        self.b.shutdown().await;
        self.a.shutdown().await;
    }
}
