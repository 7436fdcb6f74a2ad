//! Live moves of a tenant's data plane between tiers: `moveTenant` records the move and
//! queues its job ([`start`]); the job ([`run`]) copies while the tenant works, then
//! under a write freeze of that tenant only brings the copy level, verifies every table
//! (row counts and checksums) and switches the routing, in one transaction. Reads are
//! served throughout (from the old place until the switch commits, from the new one
//! after). A failure clears the new place and leaves the tenant where it was
//! (ROLLED_BACK). The old copy stays until [`confirm`] drops it.

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::config::DatabaseKind;
use crate::db::{Access, Db, SystemTask};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::services::Services;

use super::{IsolationTier, MoveStatus, TenantMove, TierAdmin};

/// A move with its tenant (and the tenant's modules), as the API shows it.
pub type MoveView = (TenantMove, crate::tenancy::Tenant, Vec<String>);

/// Starts moving `tenant`'s data plane to `to`; the move runs as a job and
/// [`get`] (`tenantMove`) reports it. [PA]
pub async fn start(
    services: &Services,
    caller: &Caller,
    tenant: TenantId,
    to: IsolationTier,
    database_url: Option<&str>,
) -> AppResult<MoveView> {
    let admin = caller.platform_admin()?;
    check_target(services.db.kind(), to, database_url)?;
    // A tenant database is checked step by step before anything is recorded, and only
    // its sealed form is kept.
    let sealed = match database_url {
        Some(url) => {
            crate::db::onboard(url, tenant).await?;
            Some(services.data_keys.seal(url)?)
        }
        None => None,
    };
    let access = Access::Admin(&admin, "tenant move");
    begin(
        &services.db,
        access,
        tenant,
        to,
        sealed,
        Some(admin.user_id()),
        &caller.actor(),
    )
    .await
}

/// Records the move of `tenant` to `to` and queues its job, audited in the platform's
/// chain and the tenant's, all in one transaction: the API's and the CLI's way in.
pub async fn begin(
    db: &Db,
    access: Access<'_>,
    tenant: TenantId,
    to: IsolationTier,
    sealed_url: Option<String>,
    by: Option<crate::ids::UserId>,
    actor: &crate::audit::Actor,
) -> AppResult<MoveView> {
    check_target(db.kind(), to, sealed_url.as_deref())?;
    let tx = db.platform_write(access).await?;
    let current = tx
        .find_tenant(tenant)
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    if current.isolation == to {
        return Err(AppError::bad_input(
            "to",
            format!("the tenant is on the {} tier already", to.as_str()),
        ));
    }
    // A move off a tenant database takes its address along (to read it, later to clear it).
    let sealed_url = match current.isolation {
        IsolationTier::Database => tx.tenant_database(tenant).await?,
        _ => sealed_url,
    };
    let moved = tx
        .start_move(tenant, current.isolation, to, by, sealed_url)
        .await?;
    tx.enqueue_for(
        tenant,
        &msingi_jobs::MoveTenant {
            move_id: moved.id,
            tenant_id: tenant.into_uuid(),
        },
    )
    .await?;
    let changes =
        serde_json::json!({ "move": moved.id, "from": moved.from.as_str(), "to": to.as_str() });
    for chain in [None, Some(tenant)] {
        let entry =
            AuditEntry::new("platform.tenant.move", "tenant", tenant).with_changes(changes.clone());
        tx.audit(chain, actor, entry).await?;
    }
    let modules = tx.tenant_modules(tenant).await?.into_iter().collect();
    tx.commit().await?;
    Ok((moved, current, modules))
}

/// Moves `tenant` to the tier its plan names when it is on another (a plan chosen or
/// applied at renewal): recorded and queued as a platform admin's move is, audited, by the
/// system. Nothing on SQLite (SHARED only), for a tenant on the DATABASE tier (put there
/// on purpose, with its own database), or while one of its moves is under way (that one
/// finishes; the next plan change moves it again). Returns the move started, if any.
pub async fn follow_plan(db: &Db, tenant: TenantId) -> AppResult<Option<TenantMove>> {
    if db.kind() != DatabaseKind::Postgres {
        return Ok(None);
    }
    let tx = db
        .platform_read(Access::Task(SystemTask::TenantMoves))
        .await?;
    let (Some(current), Some(wanted)) =
        (tx.find_tenant(tenant).await?, tx.plan_tier(tenant).await?)
    else {
        return Ok(None);
    };
    drop(tx);
    if current.isolation == wanted
        || current.isolation == IsolationTier::Database
        || wanted == IsolationTier::Database
    {
        return Ok(None);
    }
    match begin(
        db,
        Access::Task(SystemTask::TenantMoves),
        tenant,
        wanted,
        None,
        None,
        &crate::audit::Actor::default(),
    )
    .await
    {
        Ok((moved, _, _)) => Ok(Some(moved)),
        // One is under way already (at most one per tenant, by a unique index).
        Err(AppError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Refuses a target this deployment cannot serve, naming the argument.
fn check_target(
    kind: DatabaseKind,
    to: IsolationTier,
    database_url: Option<&str>,
) -> AppResult<()> {
    if kind != DatabaseKind::Postgres {
        return Err(AppError::bad_input(
            "to",
            "only the SHARED tier exists on SQLite: schema and database tiers need PostgreSQL",
        ));
    }
    if to == IsolationTier::Database && database_url.is_none() {
        return Err(AppError::bad_input(
            "databaseUrl",
            "a move to the DATABASE tier needs the tenant database's URL",
        ));
    }
    if to != IsolationTier::Database && database_url.is_some() {
        return Err(AppError::bad_input(
            "databaseUrl",
            "only a move to the DATABASE tier takes a database URL",
        ));
    }
    Ok(())
}

/// One move. [PA]
pub async fn get(
    services: &Services,
    caller: &Caller,
    id: uuid::Uuid,
) -> AppResult<Option<MoveView>> {
    let admin = caller.platform_admin()?;
    let tx = services
        .db
        .platform_read(Access::Admin(&admin, "tenant move"))
        .await?;
    let Some(moved) = tx.find_move(id).await? else {
        return Ok(None);
    };
    let tenant = tx
        .find_tenant(moved.tenant)
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    let modules = tx.tenant_modules(moved.tenant).await?.into_iter().collect();
    Ok(Some((moved, tenant, modules)))
}

/// Runs move `id` to its end (the job's handler; `msingi tenants move`): a move already
/// switched, failed or rolled back is returned as it is, one under way (also one a killed
/// worker left) is run from its copy again.
pub async fn run(db: &Db, admin: &TierAdmin, id: uuid::Uuid) -> anyhow::Result<Option<TenantMove>> {
    let Some(moved) = find(db, id).await? else {
        return Ok(None);
    };
    if !moved.status.under_way() {
        return Ok(Some(moved));
    }
    let owner = admin.connect().await?;
    // One runner at a time: another one's copy, half done, is never copied over.
    let lock = owner.runner_lock(id).await?;
    let Some(moved) = find(db, id).await?.filter(|m| m.status.under_way()) else {
        owner.close().await;
        return Ok(find(db, id).await?);
    };
    let (tenant, from, to) = (moved.tenant, moved.from, moved.to);
    let outcome = async {
        let remote = moved.sealed_url.as_deref();
        owner.prepare(to, tenant, remote).await?;
        let leg = crate::db::Leg {
            tenant,
            move_id: id,
            from,
            to,
            remote,
        };
        let copied = owner.copy(&leg).await?;
        owner
            .mark(
                tenant,
                id,
                MoveStatus::Verifying,
                copied.rows,
                None,
                db.clock().now(),
            )
            .await?;
        owner.switch(&leg, copied.floor, db.clock().now()).await
    }
    .await;
    match outcome {
        Ok(switched) => tracing::info!(
            tenant = %tenant,
            from = from.as_str(),
            to = to.as_str(),
            rows = switched.rows,
            freeze_ms = switched.freeze.as_millis() as u64,
            "tenant moved"
        ),
        Err(error) => {
            // Another runner of this move finished it (switched, or rolled it back).
            if find(db, id).await?.is_some_and(|m| !m.status.under_way()) {
                owner.close().await;
                return Ok(find(db, id).await?);
            }
            let why = format!("{:#}", super::operator_error(error));
            tracing::warn!(tenant = %tenant, to = to.as_str(), error = %why, "tenant move failed; rolling back");
            // The tenant was never switched: clear the new place, the old one is live.
            let status = match owner
                .drop_copy(tenant, to, moved.sealed_url.as_deref())
                .await
            {
                Ok(()) => MoveStatus::RolledBack,
                Err(_) => MoveStatus::Failed,
            };
            owner
                .mark(tenant, id, status, 0, Some(&why), db.clock().now())
                .await?;
        }
    }
    drop(lock);
    owner.close().await;
    Ok(find(db, id).await?)
}

/// Drops the old copy of `tenant`'s last move, once it switched and the tenant is served
/// from the new place (`msingi tenants move --confirm`).
pub async fn confirm(db: &Db, admin: &TierAdmin, tenant: TenantId) -> anyhow::Result<TenantMove> {
    let tx = db
        .platform_read(Access::Task(SystemTask::TenantMoves))
        .await?;
    let moved = tx
        .latest_move(tenant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the tenant was never moved"))?;
    let current = tx
        .find_tenant(tenant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no such tenant"))?
        .isolation;
    drop(tx);
    anyhow::ensure!(
        moved.status == MoveStatus::Switched,
        "the last move is {}, not SWITCHED: nothing to confirm",
        moved.status.as_str()
    );
    anyhow::ensure!(
        moved.confirmed_at.is_none(),
        "the last move was confirmed already"
    );
    anyhow::ensure!(
        current == moved.to && moved.from != current,
        "the tenant is served from {} now: its last move's old copy is not old",
        current.as_str()
    );
    let owner = admin.connect().await?;
    owner
        .drop_copy(tenant, moved.from, moved.sealed_url.as_deref())
        .await?;
    owner.confirmed(tenant, moved.id, db.clock().now()).await?;
    owner.close().await;
    find(db, moved.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the move disappeared"))
}

async fn find(db: &Db, id: uuid::Uuid) -> AppResult<Option<TenantMove>> {
    db.platform_read(Access::Task(SystemTask::TenantMoves))
        .await?
        .find_move(id)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_a_deployment_cannot_serve_are_refused_naming_the_argument() {
        let field = |r: AppResult<()>| match r {
            Err(AppError::BadInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(check_target(
                DatabaseKind::Sqlite,
                IsolationTier::Schema,
                None
            )),
            "to"
        );
        assert_eq!(
            field(check_target(
                DatabaseKind::Postgres,
                IsolationTier::Database,
                None
            )),
            "databaseUrl"
        );
        assert!(
            check_target(
                DatabaseKind::Postgres,
                IsolationTier::Database,
                Some("postgres://x")
            )
            .is_ok()
        );
        assert_eq!(
            field(check_target(
                DatabaseKind::Postgres,
                IsolationTier::Schema,
                Some("postgres://x")
            )),
            "databaseUrl"
        );
        assert!(check_target(DatabaseKind::Postgres, IsolationTier::Schema, None).is_ok());
    }
}
