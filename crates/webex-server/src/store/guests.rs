//! Guest issuers: the record, [`GuestIssuerStore`], and the SQL both
//! backends run for it.

use async_trait::async_trait;

use super::backend::Backend;
use super::sql::{Columns, Stmt};
use super::{Millis, StoreResult};

/// A guest issuer whose HS256 JWTs `POST /v1/jwt/login` accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestIssuerRecord {
    /// Issuer id (the JWT `iss`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Org the guests are created in.
    pub org_id: String,
    /// The signing secret, as raw bytes. It must be recoverable to verify
    /// signatures, so it cannot be stored as a hash.
    pub secret: Vec<u8>,
    /// Creation time.
    pub created_at: Millis,
}

impl std::fmt::Debug for GuestIssuerRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestIssuerRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("org_id", &self.org_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Guest issuers. Each method is one transaction.
#[async_trait]
pub trait GuestIssuerStore: Send + Sync {
    /// Registers a guest issuer.
    async fn insert_guest_issuer(&self, issuer: &GuestIssuerRecord) -> StoreResult<()>;
    /// A guest issuer by id.
    async fn guest_issuer(&self, id: &str) -> StoreResult<Option<GuestIssuerRecord>>;
}

fn guest_issuer(row: &dyn Columns) -> StoreResult<GuestIssuerRecord> {
    Ok(GuestIssuerRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        org_id: row.text("org_id")?,
        secret: row.bytes("secret")?,
        created_at: row.int("created_at")?,
    })
}

#[async_trait]
impl<B: Backend> GuestIssuerStore for B {
    async fn insert_guest_issuer(&self, issuer: &GuestIssuerRecord) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO guest_issuers (id, name, org_id, secret, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&issuer.id)
        .bind(&issuer.name)
        .bind(&issuer.org_id)
        .bind(issuer.secret.as_slice())
        .bind(issuer.created_at)
        .constraint_errors("guest issuer", "row");
        self.execute(stmt).await.map(drop)
    }

    async fn guest_issuer(&self, id: &str) -> StoreResult<Option<GuestIssuerRecord>> {
        let stmt = Stmt::new(
            "SELECT id, name, org_id, secret, created_at FROM guest_issuers WHERE id = $1",
        )
        .bind(id);
        self.read_optional(stmt, guest_issuer).await
    }
}
