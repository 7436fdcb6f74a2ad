//! `msingi tenants …`: every tenant's tier and data-plane migration version, and the
//! data-plane migrator run across every tenant schema.

use futures::StreamExt as _;
use msingi_migrations::MigratorTrait;

use crate::db::{Access, Db, SystemTask};
use crate::ids::TenantId;

use super::{IsolationTier, TierAdmin, schema_name};

/// One line of `msingi tenants list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantPlace {
    /// The tenant's slug.
    pub slug: String,
    /// Its tier.
    pub tier: &'static str,
    /// Where its data plane is: `public` (the shared tables) or its schema.
    pub location: String,
    /// The newest data-plane migration applied there.
    pub version: Option<String>,
}

/// The newest data-plane migration this build knows.
pub fn latest_version() -> Option<String> {
    msingi_migrations::DataMigrator::migrations()
        .last()
        .map(|m| m.name().to_owned())
}

/// Every tenant with its tier, location and data-plane migration version.
pub async fn list(db: &Db, admin: Option<&TierAdmin>) -> anyhow::Result<Vec<TenantPlace>> {
    let tenants = db
        .platform_read(Access::Task(SystemTask::TenantMoves))
        .await?
        .tenant_tiers()
        .await?;
    let shared_version = db.data_plane_version().await?;
    let schemas = match admin {
        Some(admin) if tenants.iter().any(|(_, _, t)| *t == IsolationTier::Schema) => {
            let owner = admin.connect().await?;
            let states = owner.schemas().await?;
            owner.close().await;
            states
        }
        _ => Vec::new(),
    };
    Ok(tenants
        .into_iter()
        .map(|(id, slug, tier)| {
            let (location, version) = match tier {
                IsolationTier::Schema => {
                    let schema = schema_name(id);
                    let version = schemas
                        .iter()
                        .find(|s| s.schema == schema)
                        .and_then(|s| s.version.clone());
                    (schema, version)
                }
                _ => ("public".to_owned(), shared_version.clone()),
            };
            TenantPlace {
                slug,
                tier: tier.as_str(),
                location,
                version,
            }
        })
        .collect())
}

/// What `msingi tenants migrate` did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MigrateSummary {
    /// Tenant schemas looked at.
    pub schemas: usize,
    /// Schemas that were at the newest version already.
    pub current: usize,
    /// Schemas migrated now.
    pub migrated: usize,
    /// Migrations applied, all schemas.
    pub applied: usize,
    /// Schemas that failed, with why.
    pub failed: Vec<(String, String)>,
}

/// Runs the data-plane migrator in every tenant schema (and creates the schema of a tenant
/// on the SCHEMA tier that lacks one), `concurrency` at a time. Idempotent and resumable:
/// each schema records what it applied, and one whose newest version is current is
/// skipped without a connection of its own (one query reads every schema's version).
/// `progress` is told of each schema done.
pub async fn migrate_all(
    db: &Db,
    admin: &TierAdmin,
    concurrency: usize,
    progress: impl Fn(usize, &str) + Send + Sync,
) -> anyhow::Result<MigrateSummary> {
    let owner = admin.connect().await?;
    let mut states = owner.schemas().await?;
    let tenants = db
        .platform_read(Access::Task(SystemTask::TenantMoves))
        .await?
        .tenant_tiers()
        .await?;
    for (id, _, tier) in &tenants {
        let schema = schema_name(*id);
        if *tier == IsolationTier::Schema && !states.iter().any(|s| s.schema == schema) {
            states.push(crate::db::SchemaState {
                schema,
                version: None,
            });
        }
    }
    let latest = latest_version();
    let mut summary = MigrateSummary {
        schemas: states.len(),
        ..MigrateSummary::default()
    };
    let (current, behind): (Vec<_>, Vec<_>) = states
        .into_iter()
        .partition(|s| s.version.is_some() && s.version == latest);
    summary.current = current.len();
    progress(current.len(), "");
    let results: Vec<(String, anyhow::Result<usize>)> = futures::stream::iter(behind)
        .map(|state| {
            let owner = &owner;
            let tenant = tenant_of(&state.schema);
            async move {
                let result = match tenant {
                    Some(tenant) => owner
                        .prepare(IsolationTier::Schema, tenant, None)
                        .await
                        .map_err(super::operator_error),
                    None => owner.migrate_schema(&state.schema).await,
                };
                (state.schema, result)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .inspect(|(schema, _)| progress(1, schema))
        .collect()
        .await;
    for (schema, result) in results {
        match result {
            Ok(applied) => {
                summary.migrated += usize::from(applied > 0);
                summary.current += usize::from(applied == 0);
                summary.applied += applied;
            }
            Err(e) => summary.failed.push((schema, format!("{e:#}"))),
        }
    }
    owner.close().await;
    Ok(summary)
}

/// The tenant a schema named by [`schema_name`] belongs to.
fn tenant_of(schema: &str) -> Option<TenantId> {
    let hex = schema.strip_prefix("tenant_")?;
    uuid::Uuid::try_parse(hex).ok().map(TenantId::from_uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_name_gives_its_tenant_back() {
        let tenant = TenantId::new();
        assert_eq!(tenant_of(&schema_name(tenant)), Some(tenant));
        assert_eq!(tenant_of("public"), None);
    }
}
