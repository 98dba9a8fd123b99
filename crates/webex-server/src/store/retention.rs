//! Retention of meetings: ended meetings (with their participants and
//! devices) and unused ad-hoc spaces are deleted once they are older than
//! the retention. Personal rooms stay with their owners.
//!
//! One SQL text serves both backends; deleting a Locus cascades to its
//! participants and their devices.

use async_trait::async_trait;
use futures::FutureExt;

use super::backend::Backend;
use super::sql::{Conn, Stmt};
use super::{Millis, StoreResult};

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Ended meetings (Locus instances).
    pub meetings: u64,
    /// Ad-hoc spaces.
    pub spaces: u64,
}

/// Purging old meetings. One transaction per call.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes every meeting that is not active and ended (or was last
    /// active) before `before`, then every space without an owner that was
    /// created before `before` and has no meeting left.
    async fn purge_meetings(&self, before: Millis) -> StoreResult<Purged>;
}

#[async_trait]
impl<B: Backend> RetentionStore for B {
    async fn purge_meetings(&self, before: Millis) -> StoreResult<Purged> {
        let meetings = Stmt::new(
            "DELETE FROM loci WHERE state <> 'ACTIVE' AND COALESCE(ended_at, last_active) < $1",
        )
        .bind(before);
        let spaces = Stmt::new(
            "DELETE FROM meeting_spaces WHERE owner_id IS NULL AND created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM loci WHERE loci.space_id = meeting_spaces.id)",
        )
        .bind(before);
        self.transaction(move |c| {
            async move {
                let meetings = c.execute(meetings).await?;
                let spaces = c.execute(spaces).await?;
                Ok(Purged { meetings, spaces })
            }
            .boxed()
        })
        .await
    }
}
