//! The data plane by tier, as the table owner (`MIGRATION_DATABASE_URL`): tenant schemas
//! (created, migrated, granted, dropped), the copy of a tenant's data plane between tiers,
//! the verified switch under a write freeze, and dropping the old copy. PostgreSQL only:
//! on SQLite every tenant is on the shared tier.
//!
//! Row-level security is FORCEd on every data-plane table, so even the owner sees a
//! tenant's rows only inside a transaction bound to it: every statement here runs in one.

use std::time::{Duration, Instant};

use msingi_migrations::MigratorTrait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait, Value,
};

use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::tenancy::IsolationTier;

/// A data-plane table as a copy sees it: its key (`tenant_id` first) and whether rows are
/// only ever added (then a delta is the rows not yet copied; otherwise changed rows are
/// rewritten and removed ones removed).
struct Copied {
    table: &'static str,
    key: &'static [&'static str],
    append_only: bool,
}

/// Every data-plane table, referenced ones first ([`msingi_migrations::DATA_TABLES`]'s
/// order; a test checks they agree).
const COPIED: &[Copied] = &[
    Copied {
        table: "products",
        key: &["tenant_id", "id"],
        append_only: false,
    },
    Copied {
        table: "stock_levels",
        key: &["tenant_id", "product_id", "store_id"],
        append_only: false,
    },
    Copied {
        table: "stock_movements",
        key: &["tenant_id", "id"],
        append_only: true,
    },
];

/// One move's way: the tenant, the move, from where to where, and the sealed URL of the
/// tenant database it involves, if any.
#[derive(Debug, Clone, Copy)]
pub struct Leg<'a> {
    /// The tenant moved.
    pub tenant: TenantId,
    /// The move (`tenant_moves.id`).
    pub move_id: uuid::Uuid,
    /// From this tier.
    pub from: IsolationTier,
    /// To this one.
    pub to: IsolationTier,
    /// The tenant database's sealed URL (to or from the DATABASE tier).
    pub remote: Option<&'a str>,
}

/// What a copy did: the rows it copied, and the id floor past which the switch looks for
/// rows added since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    /// Rows copied, all tables.
    pub rows: u64,
    /// Every row written after the copy began has a UUIDv7 id at or past it.
    pub floor: uuid::Uuid,
}

/// How far before a copy the id floor lies: transactions open that long, or clocks that far
/// apart, still have their rows found by the quick path (later ones by the counts).
const ID_MARGIN: Duration = Duration::from_secs(600);

/// The smallest UUIDv7 of the millisecond `at`: every id made at or after it sorts after.
fn id_floor(at: std::time::SystemTime) -> uuid::Uuid {
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    uuid::Uuid::from_bytes(bytes)
}

/// What a switch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switched {
    /// Rows in the new place, all tables.
    pub rows: u64,
    /// How long the tenant's writes were held.
    pub freeze: Duration,
}

/// A tenant schema's data-plane migration state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    /// The schema.
    pub schema: String,
    /// The newest data-plane migration applied there, if any.
    pub version: Option<String>,
}

/// The owner's connection to the main database, with the roles that get access to what
/// it creates.
#[derive(Debug, Clone)]
pub struct DataPlaneAdmin {
    url: String,
    conn: DatabaseConnection,
    /// Roles granted data access on a tenant schema: the run-time role and the platform's.
    runtime: Option<String>,
    platform: Option<String>,
    /// Open the sealed URLs of tenant databases.
    keys: crate::secrets::DataKeys,
}

fn pg(sql: impl Into<String>, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql.into(), values)
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The schema `tier` keeps `tenant`'s data-plane tables in (of the main database, or of
/// the tenant's own on the DATABASE tier).
fn place(tier: IsolationTier, tenant: TenantId) -> String {
    match tier {
        IsolationTier::Schema => crate::tiers::schema_name(tenant),
        IsolationTier::Shared | IsolationTier::Database => "public".to_owned(),
    }
}

/// Locks move `id`'s record until `tx` ends and checks it is still under way, so two
/// runners of one move (a worker's job and the CLI, a redelivery) take turns and the
/// second finds the first's outcome instead of undoing it.
async fn claim(tx: &DatabaseTransaction, tenant: TenantId, id: uuid::Uuid) -> AppResult<()> {
    let row = tx
        .query_one_raw(pg(
            "SELECT status FROM public.tenant_moves WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            vec![tenant.into_uuid().into(), id.into()],
        ))
        .await?
        .ok_or(AppError::NotFound {
            entity: "tenant move",
        })?;
    let status = crate::tiers::MoveStatus::from_stored(&row.try_get::<String>("", "status")?);
    if !status.under_way() {
        return Err(AppError::Conflict(format!(
            "the move is {} already",
            status.as_str()
        )));
    }
    Ok(())
}

async fn bind(tx: &DatabaseTransaction, tenant: TenantId) -> AppResult<()> {
    tx.execute_raw(pg(
        "SELECT set_config('app.tenant_id', $1, true)",
        vec![tenant.to_string().into()],
    ))
    .await?;
    Ok(())
}

impl DataPlaneAdmin {
    /// Connects as the owner (`owner_url`); what it creates is granted to the users of
    /// `runtime_url` and `platform_url`.
    pub async fn connect(
        owner_url: &str,
        runtime_url: &str,
        platform_url: &str,
        keys: crate::secrets::DataKeys,
    ) -> anyhow::Result<Self> {
        let conn = connect(owner_url, None, 2).await?;
        anyhow::ensure!(
            conn.get_database_backend() == DbBackend::Postgres,
            "isolation tiers other than SHARED need PostgreSQL; on SQLite every tenant is SHARED"
        );
        let user = super::url_user;
        let owner = user(owner_url);
        let others = |u: &str| user(u).filter(|r| Some(r) != owner.as_ref());
        Ok(Self {
            url: owner_url.to_owned(),
            runtime: others(runtime_url),
            platform: others(platform_url),
            conn,
            keys,
        })
    }

    /// Takes the lock of move `move_id`'s runner, waiting while another runner (the job on
    /// a worker, `msingi tenants move`) holds it: one runner at a time, each copy on a
    /// fresh snapshot. The lock is the session's, on its own connection, so a runner killed
    /// mid-move releases it with its connection; dropping the returned connection ends it.
    pub async fn runner_lock(&self, move_id: uuid::Uuid) -> AppResult<sqlx::PgConnection> {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&self.url).await.map_err(sql)?;
        sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 17))")
            .bind(move_id.to_string())
            .execute(&mut conn)
            .await
            .map_err(sql)?;
        Ok(conn)
    }

    /// Creates `tenant`'s place on `tier` when it is a schema: the schema, the data-plane
    /// migrations in it, the grants and the platform's policies; returns how many
    /// migrations it applied. Safe to repeat.
    pub async fn prepare(
        &self,
        tier: IsolationTier,
        tenant: TenantId,
        remote: Option<&str>,
    ) -> AppResult<usize> {
        let schema = place(tier, tenant);
        if tier == IsolationTier::Database {
            let url = self.remote_url(remote)?;
            return migrate_remote(&url).await;
        }
        if tier != IsolationTier::Schema {
            return Ok(0);
        }
        self.conn
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(&schema)))
            .await?;
        self.migrate_schema(&schema)
            .await
            .map_err(AppError::internal)
    }

    /// Applies the pending data-plane migrations in `schema` (its own
    /// `seaql_migrations_data` records them), then grants the roles access; returns how
    /// many it applied.
    pub async fn migrate_schema(&self, schema: &str) -> anyhow::Result<usize> {
        let pending = apply_data_migrations(&self.url, Some(schema)).await?;
        if pending > 0 {
            self.conn.execute_unprepared(&self.grants(schema)).await?;
        }
        Ok(pending)
    }

    fn grants(&self, schema: &str) -> String {
        let schema = ident(schema);
        let mut sql = String::new();
        for role in self.runtime.iter().chain(&self.platform) {
            let role = ident(role);
            sql.push_str(&format!(
                "GRANT USAGE ON SCHEMA {schema} TO {role};\n\
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};\n"
            ));
        }
        if let Some(platform) = &self.platform {
            let role = ident(platform);
            for table in msingi_migrations::DATA_TABLES {
                sql.push_str(&format!(
                    "DROP POLICY IF EXISTS platform_door ON {schema}.{table};\n\
                     CREATE POLICY platform_door ON {schema}.{table} TO {role} USING (true) WITH CHECK (true);\n"
                ));
            }
        }
        sql
    }

    /// Every tenant schema, with its newest applied data-plane migration: one statement
    /// finds the schemas and which have a migration table, one more (per 500) reads
    /// every version.
    pub async fn schemas(&self) -> AppResult<Vec<SchemaState>> {
        let rows = self
            .conn
            .query_all_raw(pg(
                "SELECT n.nspname::text AS schema, (to_regclass(quote_ident(n.nspname) || '.seaql_migrations_data') IS NOT NULL) AS migrated \
                 FROM pg_namespace n WHERE n.nspname LIKE 'tenant\\_%' ORDER BY n.nspname",
                vec![],
            ))
            .await?;
        let mut states = Vec::with_capacity(rows.len());
        let mut recorded = Vec::new();
        for row in &rows {
            let schema: String = row.try_get("", "schema")?;
            if row.try_get::<bool>("", "migrated")? {
                recorded.push(schema.clone());
            }
            states.push(SchemaState {
                schema,
                version: None,
            });
        }
        for chunk in recorded.chunks(500) {
            let union: Vec<String> = chunk
                .iter()
                .map(|s| {
                    format!(
                        "SELECT '{s}'::text AS schema, (SELECT max(version) FROM {}.seaql_migrations_data) AS version",
                        ident(s)
                    )
                })
                .collect();
            for row in self
                .conn
                .query_all_raw(pg(union.join(" UNION ALL "), vec![]))
                .await?
            {
                let schema: String = row.try_get("", "schema")?;
                let version: Option<String> = row.try_get("", "version")?;
                if let Some(state) = states.iter_mut().find(|s| s.schema == schema) {
                    state.version = version;
                }
            }
        }
        Ok(states)
    }

    /// Copies `tenant`'s data-plane rows from `from` to `to` while the tenant keeps
    /// working (no freeze): whatever an earlier, interrupted copy left in `to` is cleared
    /// first. Returns the rows copied.
    pub async fn copy(&self, leg: &Leg<'_>) -> AppResult<Copy> {
        let Leg {
            tenant,
            move_id,
            from,
            to,
            remote: _,
        } = *leg;
        // Rows written from now on have UUIDv7 ids after this floor (with a margin for
        // transactions already open and clocks apart): the switch looks for new rows there.
        let floor = id_floor(std::time::SystemTime::now() - ID_MARGIN);
        if from == IsolationTier::Database || to == IsolationTier::Database {
            let rows = self.copy_across(leg).await?;
            return Ok(Copy { rows, floor });
        }
        let (src, dst) = (ident(&place(from, tenant)), ident(&place(to, tenant)));
        // One snapshot for the copy and its check.
        let tx = self
            .conn
            .begin_with_config(Some(sea_orm::IsolationLevel::RepeatableRead), None)
            .await?;
        bind(&tx, tenant).await?;
        claim(&tx, tenant, move_id).await?;
        for table in COPIED.iter().rev() {
            tx.execute_raw(pg(
                format!("DELETE FROM {dst}.{} WHERE tenant_id = $1", table.table),
                vec![tenant.into_uuid().into()],
            ))
            .await?;
        }
        let mut rows = 0;
        for table in COPIED {
            let columns = self.columns(&tx, table.table).await?;
            rows += tx
                .execute_raw(pg(
                    format!(
                        "INSERT INTO {dst}.{t} ({columns}) SELECT {columns} FROM {src}.{t} WHERE tenant_id = $1",
                        t = table.table
                    ),
                    vec![tenant.into_uuid().into()],
                ))
                .await?
                .rows_affected();
        }
        // Append-only tables are checked whole here, outside the freeze: their rows never
        // change, so under the freeze only the rows added since need comparing.
        let id: Value = tenant.into_uuid().into();
        for table in COPIED.iter().filter(|t| t.append_only) {
            verified(
                table,
                from,
                &checksum(&tx, &src, table.table, &id, None).await?,
                &checksum(&tx, &dst, table.table, &id, None).await?,
            )?;
        }
        tx.commit().await?;
        Ok(Copy { rows, floor })
    }

    /// Adds to `dst` the rows of an append-only `table` it lacks (those with an id at or
    /// past `since`, when given), in one statement.
    async fn add_missing(
        &self,
        tx: &DatabaseTransaction,
        src: &str,
        dst: &str,
        table: &Copied,
        tenant: &Value,
        since: Option<uuid::Uuid>,
    ) -> AppResult<()> {
        let columns = self.columns(tx, table.table).await?;
        let (t, matches) = (table.table, key_match(table.key, "y", "x"));
        let (after, values) = match since {
            Some(floor) => (" AND x.id >= $2", vec![tenant.clone(), floor.into()]),
            None => ("", vec![tenant.clone()]),
        };
        tx.execute_raw(pg(
            format!(
                "INSERT INTO {dst}.{t} ({columns}) SELECT {columns} FROM {src}.{t} x \
                 WHERE x.tenant_id = $1{after} AND NOT EXISTS (SELECT 1 FROM {dst}.{t} y WHERE {matches})"
            ),
            values,
        ))
        .await?;
        Ok(())
    }

    async fn columns(&self, tx: &DatabaseTransaction, table: &str) -> AppResult<String> {
        let rows = tx
            .query_all_raw(pg(
                "SELECT column_name::text AS name FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                vec![table.into()],
            ))
            .await?;
        let names: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "name").map(|n| ident(&n)))
            .collect::<Result<_, _>>()?;
        Ok(names.join(", "))
    }

    /// Under the write freeze (the tenant's row locked `FOR UPDATE`: writes in flight
    /// finish first, new ones wait), brings `to` level with what `from` gained since the
    /// copy, verifies every table (row count and a checksum of every row, both sides),
    /// then points the tenant at `to` and marks the move SWITCHED, in the same
    /// transaction. Any difference fails it with nothing switched.
    pub async fn switch(
        &self,
        leg: &Leg<'_>,
        floor: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AppResult<Switched> {
        let Leg {
            tenant,
            move_id,
            from,
            to,
            remote: _,
        } = *leg;
        if from == IsolationTier::Database || to == IsolationTier::Database {
            return self.switch_across(leg, now).await;
        }
        let (src, dst) = (ident(&place(from, tenant)), ident(&place(to, tenant)));
        let id: Value = tenant.into_uuid().into();
        let tx = self.conn.begin().await?;
        bind(&tx, tenant).await?;
        claim(&tx, tenant, move_id).await?;
        let started = Instant::now();
        freeze(&tx, tenant, from).await?;
        for table in COPIED.iter().rev().filter(|t| !t.append_only) {
            let matches = key_match(table.key, "x", "y");
            tx.execute_raw(pg(
                format!(
                    "DELETE FROM {dst}.{t} x WHERE x.tenant_id = $1 AND NOT EXISTS \
                     (SELECT 1 FROM {src}.{t} y WHERE {matches})",
                    t = table.table
                ),
                vec![id.clone()],
            ))
            .await?;
        }
        for table in COPIED {
            if table.append_only {
                // The rows added since the copy (ids past the floor); a late one below it
                // is found by the counts below.
                self.add_missing(&tx, &src, &dst, table, &id, Some(floor))
                    .await?;
                continue;
            }
            let columns = self.columns(&tx, table.table).await?;
            let t = table.table;
            let sql = {
                let names: Vec<&str> = columns.split(", ").collect();
                let rest: Vec<&&str> = names
                    .iter()
                    .filter(|c| !table.key.iter().any(|k| ident(k) == **c))
                    .collect();
                let set: Vec<String> = rest.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
                let mine: Vec<String> = rest.iter().map(|c| format!("{dst}.{t}.{c}")).collect();
                let theirs: Vec<String> = rest.iter().map(|c| format!("EXCLUDED.{c}")).collect();
                format!(
                    "INSERT INTO {dst}.{t} ({columns}) SELECT {columns} FROM {src}.{t} WHERE tenant_id = $1 \
                     ON CONFLICT ({key}) DO UPDATE SET {set} WHERE ({mine}) IS DISTINCT FROM ({theirs})",
                    key = table.key.join(", "),
                    set = set.join(", "),
                    mine = mine.join(", "),
                    theirs = theirs.join(", "),
                )
            };
            tx.execute_raw(pg(sql, vec![id.clone()])).await?;
        }
        let mut rows = 0;
        for table in COPIED {
            if table.append_only {
                // Checked whole at the copy; here the counts, and the rows past the floor.
                let total = |schema: &str| {
                    let sql = format!(
                        "SELECT count(*)::bigint AS n FROM {schema}.{} WHERE tenant_id = $1",
                        table.table
                    );
                    let tx = &tx;
                    let id = id.clone();
                    async move {
                        let row = tx.query_one_raw(pg(sql, vec![id])).await?;
                        Ok::<i64, AppError>(match row {
                            Some(row) => row.try_get("", "n")?,
                            None => 0,
                        })
                    }
                };
                let (there, here) = (total(&src).await?, total(&dst).await?);
                let recent = if there == here { Some(floor) } else { None };
                if recent.is_none() {
                    // A row older than the floor came in late: take every missing one.
                    self.add_missing(&tx, &src, &dst, table, &id, None).await?;
                }
                let (there_sum, here_sum) = (
                    checksum(&tx, &src, table.table, &id, recent).await?,
                    checksum(&tx, &dst, table.table, &id, recent).await?,
                );
                verified(table, from, &there_sum, &here_sum)?;
                rows += u64::try_from(total(&src).await?).unwrap_or(0);
                continue;
            }
            let (there, here) = (
                checksum(&tx, &src, table.table, &id, None).await?,
                checksum(&tx, &dst, table.table, &id, None).await?,
            );
            rows += verified(table, from, &there, &here)?;
        }
        point(&tx, tenant, to, None, now).await?;
        let freeze = started.elapsed();
        switched(&tx, tenant, move_id, rows, freeze, now).await?;
        tx.commit().await?;
        Ok(Switched { rows, freeze })
    }

    /// Drops `tenant`'s copy on `tier`: its schema, or its rows in the shared tables.
    pub async fn drop_copy(
        &self,
        tenant: TenantId,
        tier: IsolationTier,
        remote: Option<&str>,
    ) -> AppResult<()> {
        if tier == IsolationTier::Database {
            // The tenant's own database: its tables stay, the rows go.
            let pool = remote_pool(&self.remote_url(remote)?).await?;
            let mut tx = pool.begin().await.map_err(sql)?;
            bind_sqlx(&mut tx, tenant).await?;
            for table in COPIED.iter().rev() {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM public.{} WHERE tenant_id = $1",
                    table.table
                )))
                .bind(tenant.into_uuid())
                .execute(&mut *tx)
                .await
                .map_err(sql)?;
            }
            tx.commit().await.map_err(sql)?;
            pool.close().await;
            return Ok(());
        }
        let at = place(tier, tenant);
        if tier == IsolationTier::Schema {
            self.conn
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {} CASCADE", ident(&at)))
                .await?;
            return Ok(());
        }
        let tx = self.conn.begin().await?;
        bind(&tx, tenant).await?;
        for table in COPIED.iter().rev() {
            tx.execute_raw(pg(
                format!("DELETE FROM public.{} WHERE tenant_id = $1", table.table),
                vec![tenant.into_uuid().into()],
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a move's progress (`status`, rows so far, the error of a failed one).
    pub async fn mark(
        &self,
        tenant: TenantId,
        move_id: uuid::Uuid,
        status: crate::tiers::MoveStatus,
        rows: u64,
        error: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AppResult<()> {
        let tx = self.conn.begin().await?;
        bind(&tx, tenant).await?;
        let finished = (!status.under_way()).then_some(now);
        tx.execute_raw(pg(
            "UPDATE public.tenant_moves SET status = $3, rows_copied = $4, error = $5, finished_at = $6 \
             WHERE tenant_id = $1 AND id = $2 AND status IN ('COPYING', 'VERIFYING')",
            vec![
                tenant.into_uuid().into(),
                move_id.into(),
                status.as_str().into(),
                i64::try_from(rows).unwrap_or(i64::MAX).into(),
                error.map(str::to_owned).into(),
                finished.into(),
            ],
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a switched move's old copy as dropped.
    pub async fn confirmed(
        &self,
        tenant: TenantId,
        move_id: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AppResult<()> {
        let tx = self.conn.begin().await?;
        bind(&tx, tenant).await?;
        tx.execute_raw(pg(
            "UPDATE public.tenant_moves SET confirmed_at = $3 WHERE tenant_id = $1 AND id = $2",
            vec![tenant.into_uuid().into(), move_id.into(), now.into()],
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.conn.close().await.ok();
    }
}

/// The write freeze: locks the tenant's row `FOR UPDATE` until `tx` ends (writers in flight
/// finish first; new ones wait) and checks it is still on `from`.
async fn freeze(tx: &DatabaseTransaction, tenant: TenantId, from: IsolationTier) -> AppResult<()> {
    let row = tx
        .query_one_raw(pg(
            "SELECT isolation FROM public.tenants WHERE id = $1 FOR UPDATE",
            vec![tenant.into_uuid().into()],
        ))
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    let current = IsolationTier::from_stored(&row.try_get::<String>("", "isolation")?);
    if current != from {
        return Err(AppError::Conflict(format!(
            "the tenant is on {} now, not {}",
            current.as_str(),
            from.as_str()
        )));
    }
    Ok(())
}

/// Points the tenant at `to` (with its database's sealed URL on the DATABASE tier).
async fn point(
    tx: &DatabaseTransaction,
    tenant: TenantId,
    to: IsolationTier,
    sealed: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    tx.execute_raw(pg(
        "UPDATE public.tenants SET isolation = $2, data_url_sealed = $3, updated_at = $4 WHERE id = $1",
        vec![
            tenant.into_uuid().into(),
            to.as_str().into(),
            sealed.map(str::to_owned).into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks the move SWITCHED with its figures.
async fn switched(
    tx: &DatabaseTransaction,
    tenant: TenantId,
    move_id: uuid::Uuid,
    rows: u64,
    freeze: Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    tx.execute_raw(pg(
        "UPDATE public.tenant_moves SET status = 'SWITCHED', rows_copied = $3, freeze_ms = $4, \
         finished_at = $5, error = NULL WHERE tenant_id = $1 AND id = $2",
        vec![
            tenant.into_uuid().into(),
            move_id.into(),
            i64::try_from(rows).unwrap_or(i64::MAX).into(),
            i64::try_from(freeze.as_millis()).unwrap_or(i64::MAX).into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

fn sql(e: sqlx::Error) -> AppError {
    AppError::internal(e)
}

async fn bind_sqlx(conn: &mut sqlx::PgConnection, tenant: TenantId) -> AppResult<()> {
    sqlx::query(
        "SELECT set_config('app.tenant_id', $1, true), set_config('TimeZone', 'UTC', true)",
    )
    .bind(tenant.to_string())
    .execute(&mut *conn)
    .await
    .map_err(sql)?;
    Ok(())
}

/// A small pool on a tenant's own database.
async fn remote_pool(url: &str) -> AppResult<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(sql)
}

/// Runs the pending data-plane migrations as the role of `url`, in `schema` (its own
/// `seaql_migrations_data` records them) or, without one, in the database's default
/// schema (a tenant's own database); how many it applied.
async fn apply_data_migrations(url: &str, schema: Option<&str>) -> anyhow::Result<usize> {
    let conn = connect(url, schema, 1).await?;
    let pending = msingi_migrations::DataMigrator::get_pending_migrations(&conn)
        .await?
        .len();
    if pending > 0 {
        msingi_migrations::DataMigrator::up(&conn, None).await?;
    }
    conn.close().await.ok();
    Ok(pending)
}

async fn migrate_remote(url: &str) -> AppResult<usize> {
    apply_data_migrations(url, None)
        .await
        .map_err(AppError::internal)
}

/// `url` with its password masked, for messages.
fn redacted(message: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) if !password.is_empty() => message.replace(&password, "***"),
        _ => message.to_owned(),
    }
}

/// Checks a tenant's own PostgreSQL before anything moves there, one step at a time, each
/// failure a `BAD_USER_INPUT` on `databaseUrl` naming the step (credentials masked): the
/// connection, the server version (13 or newer), the privilege to create tables, the
/// data-plane migrations, and a read of what they made.
pub async fn onboard(url: &str, tenant: TenantId) -> AppResult<()> {
    let step = |name: &str, why: String| {
        AppError::bad_input("databaseUrl", format!("{name}: {}", redacted(&why, url)))
    };
    let parsed = url::Url::parse(url).map_err(|_| step("url", "not a URL".into()))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(step("url", "use a postgres:// URL".into()));
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| step("connect", e.to_string()))?;
    let version: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&pool)
        .await
        .map_err(|e| step("version", e.to_string()))?;
    if version.parse::<u32>().unwrap_or(0) < 130_000 {
        return Err(step(
            "version",
            format!("PostgreSQL 13 or newer is needed (found {version})"),
        ));
    }
    let can_create: bool =
        sqlx::query_scalar("SELECT has_schema_privilege(current_user, 'public', 'CREATE')")
            .fetch_one(&pool)
            .await
            .map_err(|e| step("privileges", e.to_string()))?;
    if !can_create {
        return Err(step(
            "privileges",
            "the role cannot create tables in the schema public".into(),
        ));
    }
    pool.close().await;
    migrate_remote(url)
        .await
        .map_err(|e| step("migrate", format!("{:#}", crate::tiers::operator_error(e))))?;
    let pool = remote_pool(url)
        .await
        .map_err(|e| step("health", format!("{:#}", crate::tiers::operator_error(e))))?;
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| step("health", e.to_string()))?;
    bind_sqlx(&mut tx, tenant).await?;
    for table in COPIED {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM public.{}",
            table.table
        )))
        .execute(&mut *tx)
        .await
        .map_err(|e| step("health", e.to_string()))?;
    }
    tx.rollback().await.ok();
    pool.close().await;
    Ok(())
}

/// One side of a copy across databases: a pool and the schema the tables are in.
struct Side {
    pool: sqlx::PgPool,
    schema: String,
    remote: bool,
}

impl DataPlaneAdmin {
    fn remote_url(&self, sealed: Option<&str>) -> AppResult<String> {
        let sealed = sealed.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "no database is recorded for the DATABASE tier"
            ))
        })?;
        self.keys.open(sealed)
    }

    async fn side(
        &self,
        tier: IsolationTier,
        tenant: TenantId,
        remote: Option<&str>,
    ) -> AppResult<Side> {
        Ok(if tier == IsolationTier::Database {
            Side {
                pool: remote_pool(&self.remote_url(remote)?).await?,
                schema: "public".to_owned(),
                remote: true,
            }
        } else {
            Side {
                pool: self.conn.get_postgres_connection_pool().clone(),
                schema: ident(&place(tier, tenant)),
                remote: false,
            }
        })
    }

    /// [`Self::copy`] between two databases: rows travel through this process in batches
    /// (JSON, exact for every column type here).
    async fn copy_across(&self, leg: &Leg<'_>) -> AppResult<u64> {
        let Leg {
            tenant,
            move_id,
            from,
            to,
            remote,
        } = *leg;
        let (src, dst) = (
            self.side(from, tenant, remote).await?,
            self.side(to, tenant, remote).await?,
        );
        let guard = self.conn.begin().await?;
        bind(&guard, tenant).await?;
        claim(&guard, tenant, move_id).await?;
        let mut out = dst.pool.begin().await.map_err(sql)?;
        bind_sqlx(&mut out, tenant).await?;
        for table in COPIED.iter().rev() {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {}.{} WHERE tenant_id = $1",
                dst.schema, table.table
            )))
            .bind(tenant.into_uuid())
            .execute(&mut *out)
            .await
            .map_err(sql)?;
        }
        let mut rows = 0;
        for table in COPIED {
            rows += stream(
                &src,
                &dst.schema,
                &mut out,
                table,
                tenant,
                Conflict::Fail,
                None,
            )
            .await?;
        }
        out.commit().await.map_err(sql)?;
        guard.commit().await?;
        close(src).await;
        close(dst).await;
        Ok(rows)
    }

    /// [`Self::switch`] between two databases: under the freeze (held in the main
    /// database), changed rows are rewritten and new ones added, every table is compared
    /// on both sides, then the tenant is pointed at the new place. A move into a tenant
    /// database commits there first, so the switch never points at rows not yet written.
    async fn switch_across(
        &self,
        leg: &Leg<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AppResult<Switched> {
        let Leg {
            tenant,
            move_id,
            from,
            to,
            remote,
        } = *leg;
        let (src, dst) = (
            self.side(from, tenant, remote).await?,
            self.side(to, tenant, remote).await?,
        );
        let tx = self.conn.begin().await?;
        bind(&tx, tenant).await?;
        claim(&tx, tenant, move_id).await?;
        let started = Instant::now();
        freeze(&tx, tenant, from).await?;
        let mut out = dst.pool.begin().await.map_err(sql)?;
        bind_sqlx(&mut out, tenant).await?;
        for table in COPIED {
            if table.append_only {
                let newest: Option<uuid::Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT max(id::text)::uuid FROM {}.{} WHERE tenant_id = $1",
                    dst.schema, table.table
                )))
                .bind(tenant.into_uuid())
                .fetch_one(&mut *out)
                .await
                .map_err(sql)?;
                stream(
                    &src,
                    &dst.schema,
                    &mut out,
                    table,
                    tenant,
                    Conflict::Skip,
                    newest,
                )
                .await?;
            } else {
                stream(
                    &src,
                    &dst.schema,
                    &mut out,
                    table,
                    tenant,
                    Conflict::Update,
                    None,
                )
                .await?;
            }
        }
        let mut rows = 0;
        for table in COPIED {
            let mut here = checksum_sqlx(&mut out, &dst.schema, table.table, tenant).await?;
            let there = checksum_pool(&src, table.table, tenant).await?;
            if here != there && table.append_only {
                // A row older than the newest copied one came in late: take every missing one.
                stream(
                    &src,
                    &dst.schema,
                    &mut out,
                    table,
                    tenant,
                    Conflict::Skip,
                    None,
                )
                .await?;
                here = checksum_sqlx(&mut out, &dst.schema, table.table, tenant).await?;
            }
            rows += verified(table, from, &there, &here)?;
        }
        out.commit().await.map_err(sql)?;
        let sealed = (to == IsolationTier::Database).then_some(remote).flatten();
        point(&tx, tenant, to, sealed, now).await?;
        let freeze = started.elapsed();
        switched(&tx, tenant, move_id, rows, freeze, now).await?;
        tx.commit().await?;
        close(src).await;
        close(dst).await;
        Ok(Switched { rows, freeze })
    }
}

async fn close(side: Side) {
    if side.remote {
        side.pool.close().await;
    }
}

/// What a streamed row does when its key is in the target already.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Conflict {
    Fail,
    Skip,
    Update,
}

/// Streams `table`'s rows of `tenant` from `src` (those with an id after `after`, when
/// given) into `dst_schema` through `out`, in batches; returns how many it read.
async fn stream(
    src: &Side,
    dst_schema: &str,
    out: &mut sqlx::PgConnection,
    table: &Copied,
    tenant: TenantId,
    conflict: Conflict,
    after: Option<uuid::Uuid>,
) -> AppResult<u64> {
    use futures::TryStreamExt as _;
    const BATCH: usize = 5_000;
    let mut read = src.pool.begin().await.map_err(sql)?;
    bind_sqlx(&mut read, tenant).await?;
    let filter = if after.is_some() { " AND id > $2" } else { "" };
    let select = format!(
        "SELECT row_to_json(t)::text FROM {}.{} t WHERE tenant_id = $1{filter}",
        src.schema, table.table
    );
    let on_conflict = match conflict {
        Conflict::Fail => String::new(),
        Conflict::Skip => " ON CONFLICT DO NOTHING".to_owned(),
        Conflict::Update => upsert_clause(out, table, dst_schema).await?,
    };
    let insert = format!(
        "INSERT INTO {dst_schema}.{t} SELECT * FROM json_populate_recordset(NULL::{dst_schema}.{t}, $1::json){on_conflict}",
        t = table.table
    );
    let mut query =
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(select)).bind(tenant.into_uuid());
    if let Some(after) = after {
        query = query.bind(after);
    }
    let mut rows = query.fetch(&mut *read);
    let mut batch: Vec<String> = Vec::with_capacity(BATCH);
    let mut total = 0u64;
    loop {
        let next = rows.try_next().await.map_err(sql)?;
        let done = next.is_none();
        if let Some(row) = next {
            batch.push(row);
        }
        if batch.len() >= BATCH || (done && !batch.is_empty()) {
            total += batch.len() as u64;
            let json = format!("[{}]", batch.join(","));
            sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
                .bind(json)
                .execute(&mut *out)
                .await
                .map_err(sql)?;
            batch.clear();
        }
        if done {
            break;
        }
    }
    drop(rows);
    read.rollback().await.ok();
    Ok(total)
}

/// `ON CONFLICT (key) DO UPDATE SET …` for every column but the key's, read from the
/// table's definition where it is written.
async fn upsert_clause(
    out: &mut sqlx::PgConnection,
    table: &Copied,
    schema: &str,
) -> AppResult<String> {
    let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = '{schema}.{}'::regclass \
         AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        table.table
    )))
    .fetch_all(&mut *out)
    .await
    .map_err(sql)?;
    let set: Vec<String> = columns
        .iter()
        .filter(|c| !table.key.contains(&c.as_str()))
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect();
    Ok(format!(
        " ON CONFLICT ({}) DO UPDATE SET {}",
        table.key.join(", "),
        set.join(", ")
    ))
}

async fn checksum_sqlx(
    conn: &mut sqlx::PgConnection,
    schema: &str,
    table: &str,
    tenant: TenantId,
) -> AppResult<(u64, String)> {
    let (n, sum): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*)::bigint, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text \
         FROM {schema}.{table} t WHERE tenant_id = $1"
    )))
    .bind(tenant.into_uuid())
    .fetch_one(&mut *conn)
    .await
    .map_err(sql)?;
    Ok((u64::try_from(n).unwrap_or(0), sum))
}

async fn checksum_pool(src: &Side, table: &str, tenant: TenantId) -> AppResult<(u64, String)> {
    let mut read = src.pool.begin().await.map_err(sql)?;
    bind_sqlx(&mut read, tenant).await?;
    let sum = checksum_sqlx(&mut read, &src.schema, table, tenant).await;
    read.rollback().await.ok();
    sum
}

/// The rows of `table` when both sides agree (count and checksum); otherwise the error
/// that fails the move, naming the table.
fn verified(
    table: &Copied,
    from: IsolationTier,
    there: &(u64, String),
    here: &(u64, String),
) -> AppResult<u64> {
    if there == here {
        return Ok(there.0);
    }
    Err(AppError::internal(anyhow::anyhow!(
        "verification failed on {}: {} rows (checksum {}) in {} but {} (checksum {}) copied",
        table.table,
        there.0,
        there.1,
        from.as_str(),
        here.0,
        here.1
    )))
}

/// `a.k = b.k AND …` over `key`.
fn key_match(key: &[&str], a: &str, b: &str) -> String {
    key.iter()
        .map(|k| format!("{a}.{k} = {b}.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// A table's rows of the bound tenant in `schema`: how many, and the sum of a 64-bit hash
/// of each whole row (order-free, so both sides compare without sorting).
async fn checksum(
    tx: &DatabaseTransaction,
    schema: &str,
    table: &str,
    tenant: &Value,
    from_id: Option<uuid::Uuid>,
) -> AppResult<(u64, String)> {
    let (filter, values) = match from_id {
        Some(floor) => (" AND id >= $2", vec![tenant.clone(), floor.into()]),
        None => ("", vec![tenant.clone()]),
    };
    let row = tx
        .query_one_raw(pg(
            format!(
                "SELECT count(*)::bigint AS n, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS sum \
                 FROM {schema}.{table} t WHERE tenant_id = $1{filter}"
            ),
            values,
        ))
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no checksum of {table}")))?;
    let n: i64 = row.try_get("", "n")?;
    Ok((u64::try_from(n).unwrap_or(0), row.try_get("", "sum")?))
}

async fn connect(url: &str, schema: Option<&str>, max: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if let Some(schema) = schema {
        options.set_schema_search_path(schema);
    }
    Ok(Database::connect(options).await?)
}

/// The pools of tenants' own databases (the DATABASE tier), opened on first use from the
/// sealed URL the tenant's row carries: a few connections each, closed when idle, at most
/// [`TenantDatabases::MAX_POOLS`] open (the least recently used is closed first), so the
/// total stays within a connection budget. A changed URL (a new move) opens a new pool.
pub(crate) struct TenantDatabases {
    keys: crate::secrets::DataKeys,
    pools: std::sync::Mutex<std::collections::HashMap<TenantId, OpenPool>>,
}

struct OpenPool {
    sealed: String,
    conn: DatabaseConnection,
    used: Instant,
}

impl std::fmt::Debug for TenantDatabases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantDatabases").finish_non_exhaustive()
    }
}

impl TenantDatabases {
    /// Tenant databases open at once.
    pub(crate) const MAX_POOLS: usize = 32;
    /// Connections per tenant database.
    pub(crate) const PER_POOL: u32 = 4;

    pub(crate) fn new(keys: crate::secrets::DataKeys) -> Self {
        Self {
            keys,
            pools: Default::default(),
        }
    }

    /// The pool of `tenant`'s database at `sealed`.
    pub(crate) async fn pool(
        &self,
        tenant: TenantId,
        sealed: Option<&str>,
    ) -> AppResult<DatabaseConnection> {
        let sealed = sealed.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("the tenant's database is not recorded"))
        })?;
        {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(open) = pools.get_mut(&tenant).filter(|p| p.sealed == sealed) {
                open.used = Instant::now();
                return Ok(open.conn.clone());
            }
        }
        let url = self.keys.open(sealed)?;
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(Self::PER_POOL)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        // The error of a failed connection is logged without the URL (it holds the
        // password); the API answers INTERNAL.
        let conn = Database::connect(options).await.map_err(|e| {
            AppError::internal(anyhow::anyhow!(
                "cannot reach tenant {tenant}'s database: {}",
                e.to_string()
                    .split("://")
                    .next()
                    .unwrap_or("connection failed")
            ))
        })?;
        let evicted = {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            let replaced = pools.insert(
                tenant,
                OpenPool {
                    sealed: sealed.to_owned(),
                    conn: conn.clone(),
                    used: Instant::now(),
                },
            );
            let mut evicted: Vec<DatabaseConnection> =
                replaced.map(|p| p.conn).into_iter().collect();
            while pools.len() > Self::MAX_POOLS {
                let Some(oldest) = pools.iter().min_by_key(|(_, p)| p.used).map(|(t, _)| *t) else {
                    break;
                };
                evicted.extend(pools.remove(&oldest).map(|p| p.conn));
            }
            evicted
        };
        for old in evicted {
            tokio::spawn(async move {
                old.close().await.ok();
            });
        }
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_floor_sorts_before_every_later_uuid_v7() {
        let floor = id_floor(std::time::SystemTime::now() - ID_MARGIN);
        assert!(uuid::Uuid::now_v7() > floor);
        assert!(id_floor(std::time::SystemTime::now() - ID_MARGIN * 2) < floor);
    }

    #[test]
    fn every_data_plane_table_is_copied_in_the_migrators_order() {
        let copied: Vec<&str> = COPIED.iter().map(|c| c.table).collect();
        assert_eq!(copied, msingi_migrations::DATA_TABLES);
        assert!(COPIED.iter().all(|c| c.key[0] == "tenant_id"));
    }
}
