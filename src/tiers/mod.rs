//! Isolation tiers: where a tenant's data plane (the domain modules' tables) lives, and
//! moving it while the tenant runs.
//!
//! - `SHARED`: the main database's tables, rows keyed by `tenant_id` under FORCEd
//!   row-level security (the default; the only tier on SQLite).
//! - `SCHEMA`: the tenant's own PostgreSQL schema ([`schema_name`]), reached by a
//!   transaction-local `search_path` that [`Db::data`](crate::db::Db::data) sets; the same
//!   tables, the same row-level security inside it.
//!
//! The routing point is `Db::data`: it reads the tier in the unit of work it opens, so a
//! switch is seen by the next unit of work on every node, with no cache to invalidate.

pub mod admin;
pub mod moves;

use chrono::{DateTime, Utc};

use crate::ids::TenantId;

pub use crate::tenancy::IsolationTier;

/// An error as an operator sees it (the CLI, a move's record for platform admins): an
/// internal error's cause, not the API's generic message. The tiers here hold no
/// credentials, so none can reach it.
pub fn operator_error(error: crate::error::AppError) -> anyhow::Error {
    match error {
        crate::error::AppError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Where a move stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveStatus {
    /// Copying the rows while the tenant keeps working.
    Copying,
    /// Under the write freeze: the last rows, then every table compared.
    Verifying,
    /// The tenant is served from the new place; the old copy is kept until confirmed.
    Switched,
    /// Failed, and what it left could not all be cleared.
    Failed,
    /// Failed; the new place was cleared and the tenant stayed where it was.
    RolledBack,
}

impl MoveStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Copying => "COPYING",
            Self::Verifying => "VERIFYING",
            Self::Switched => "SWITCHED",
            Self::Failed => "FAILED",
            Self::RolledBack => "ROLLED_BACK",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "COPYING" => Self::Copying,
            "VERIFYING" => Self::Verifying,
            "SWITCHED" => Self::Switched,
            "ROLLED_BACK" => Self::RolledBack,
            _ => Self::Failed,
        }
    }

    /// Still copying or verifying.
    pub fn under_way(self) -> bool {
        matches!(self, Self::Copying | Self::Verifying)
    }
}

/// One move of a tenant's data plane between tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantMove {
    /// Id.
    pub id: uuid::Uuid,
    /// The tenant moved.
    pub tenant: TenantId,
    /// From this tier.
    pub from: IsolationTier,
    /// To this one.
    pub to: IsolationTier,
    /// Where it stands.
    pub status: MoveStatus,
    /// Rows copied so far (all tables).
    pub rows_copied: u64,
    /// How long the tenant's writes were held at the switch.
    pub freeze_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it switched or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// When the old copy was dropped.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The tenant database a move to or from the DATABASE tier involves, sealed (never
    /// shown).
    pub sealed_url: Option<String>,
}

/// What moves need: the table owner's connection string (tenant schemas are created and
/// migrated as the owner) and the roles that get access to them.
#[derive(Debug, Clone)]
pub struct TierAdmin {
    /// `MIGRATION_DATABASE_URL`.
    pub owner_url: String,
    /// `DATABASE_URL`.
    pub runtime_url: String,
    /// `PLATFORM_DATABASE_URL`.
    pub platform_url: String,
    /// The keys that open tenant databases' sealed URLs.
    pub data_key: crate::config::DataKeyConfig,
}

impl TierAdmin {
    /// From the configuration.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            owner_url: config.database.migration_url.clone(),
            runtime_url: config.database.url.clone(),
            platform_url: config.database.platform_url.clone(),
            data_key: config.data_key.clone(),
        }
    }

    /// The owner's connection.
    pub async fn connect(&self) -> anyhow::Result<crate::db::DataPlaneAdmin> {
        crate::db::DataPlaneAdmin::connect(
            &self.owner_url,
            &self.runtime_url,
            &self.platform_url,
            crate::secrets::DataKeys::load(&self.data_key)?,
        )
        .await
    }
}

/// The PostgreSQL schema of a tenant on the `SCHEMA` tier: `tenant_` and its id's 32 hex
/// digits (a valid identifier, never quoted differently).
pub fn schema_name(tenant: TenantId) -> String {
    format!("tenant_{}", tenant.into_uuid().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_name_is_a_plain_identifier() {
        let name = schema_name(TenantId::new());
        assert_eq!(name.len(), "tenant_".len() + 32);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }
}
