//! The global door: tables that belong to no tenant (users, sessions, refresh tokens,
//! e-mail tokens), for signing in, recovery and the CLI.
//!
//! Promises: a [`GlobalTx`] reaches only tables marked [`Global`](super::scope::Global);
//! a tenant's rows are not reachable from it, and every opening logs its reason.

use super::Db;
use super::scope::GlobalTx;
use crate::error::AppResult;

impl Db {
    /// A read-only transaction on the global tables; `reason` is logged.
    pub async fn global_read(&self, reason: &'static str) -> AppResult<GlobalTx> {
        self.pools.global(reason, false).await
    }

    /// A transaction on the global tables that may write; nothing is kept unless it
    /// commits. `reason` is logged.
    pub async fn global_write(&self, reason: &'static str) -> AppResult<GlobalTx> {
        self.pools.global(reason, true).await
    }
}
