//! Secrets every node of one deployment shares, kept in the database: the
//! key that signs meetingInfo's `permissionToken`s. The first node to ask
//! for a secret makes it; every later ask, on any node, reads that one, so
//! a token minted by one node verifies on the next without configuration.
//!
//! Unlike tokens, these are stored as they are (a signing key cannot be
//! kept as a hash); they never leave the server.

use async_trait::async_trait;
use futures::FutureExt;
use secrecy::SecretString;

use super::StoreResult;
use super::backend::Backend;
use super::sql::{Conn, Stmt};

/// Deployment-wide secrets. One transaction per call.
#[async_trait]
pub trait SecretsStore: Send + Sync {
    /// The secret called `name`: the stored one, or `candidate`, stored
    /// and returned, when there is none yet. When nodes race, one
    /// candidate is kept and every node gets that one.
    async fn shared_secret(&self, name: &str, candidate: SecretString)
    -> StoreResult<SecretString>;
}

#[async_trait]
impl<B: Backend> SecretsStore for B {
    async fn shared_secret(
        &self,
        name: &str,
        candidate: SecretString,
    ) -> StoreResult<SecretString> {
        use secrecy::ExposeSecret;
        let insert = Stmt::new(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(candidate.expose_secret().to_owned());
        let select =
            Stmt::new("SELECT value FROM server_secrets WHERE name = $1").bind(name.to_owned());
        let name = name.to_owned();
        self.transaction(move |c| {
            async move {
                c.execute(insert).await?;
                let value = c.fetch_optional(select, |r| r.text("value")).await?;
                value.map(SecretString::from).ok_or_else(|| {
                    super::StoreError::Corrupt(format!("the secret {name} was not stored"))
                })
            }
            .boxed()
        })
        .await
    }
}
