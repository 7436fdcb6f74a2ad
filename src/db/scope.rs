//! The two ways into the database: a tenant's scope and the platform's door.

use sea_orm::{
    AccessMode, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend,
    DeleteMany, EntityTrait, IdenStatic, Iterable, QueryFilter, Select, Statement,
    TransactionOptions, TransactionTrait, UpdateMany, sea_query::IntoValueTuple,
};

use super::Db;
use crate::clock::SharedClock;
use crate::error::AppResult;
use crate::tenancy::TenantId;

/// An entity whose rows belong to one tenant.
pub(super) trait TenantOwned: EntityTrait {
    /// Its `tenant_id` column.
    fn tenant_column() -> Self::Column;
}

/// A unit of work inside one tenant. Every query it builds is filtered by that tenant.
#[derive(Debug)]
pub struct TenantScope {
    tx: DatabaseTransaction,
    tenant: TenantId,
    clock: SharedClock,
}

impl TenantScope {
    pub(super) async fn begin(db: &Db, tenant: TenantId, write: bool) -> AppResult<Self> {
        let tx = begin(&db.conn, write).await?;
        if tx.get_database_backend() == DbBackend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('app.tenant_id', $1, true)",
                [tenant.to_string().into()],
            ))
            .await?;
        }
        Ok(Self {
            tx,
            tenant,
            clock: db.clock.clone(),
        })
    }

    /// The tenant this scope is bound to.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// Makes the unit of work's writes permanent. Dropping the scope instead discards them.
    pub async fn commit(self) -> AppResult<()> {
        self.tx.commit().await?;
        Ok(())
    }

    pub(super) fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub(super) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// `SELECT … WHERE tenant_id = <this tenant>`.
    pub(super) fn select<E: TenantOwned>(&self) -> Select<E> {
        E::find().filter(E::tenant_column().eq(self.tenant.into_uuid()))
    }

    /// One row by the rest of its primary key, in this tenant only.
    pub(super) fn select_by_id<E, K>(&self, key: K) -> Select<E>
    where
        E: TenantOwned,
        K: IntoValueTuple,
    {
        let mut key_columns = E::PrimaryKey::iter()
            .map(sea_orm::PrimaryKeyToColumn::into_column)
            .filter(|c| c.as_str() != E::tenant_column().as_str());
        let mut select = self.select::<E>();
        for value in key.into_value_tuple() {
            if let Some(column) = key_columns.next() {
                select = select.filter(column.eq(value));
            }
        }
        select
    }

    /// `UPDATE … WHERE tenant_id = <this tenant>`.
    pub(super) fn update_many<E: TenantOwned>(&self) -> UpdateMany<E> {
        E::update_many().filter(E::tenant_column().eq(self.tenant.into_uuid()))
    }

    /// `DELETE … WHERE tenant_id = <this tenant>`.
    pub(super) fn delete_many<E: TenantOwned>(&self) -> DeleteMany<E> {
        E::delete_many().filter(E::tenant_column().eq(self.tenant.into_uuid()))
    }

    /// Inserts `model` with `tenant_id` set to this tenant, whatever the caller put there.
    pub(super) async fn insert<A>(
        &self,
        mut model: A,
    ) -> Result<<A::Entity as EntityTrait>::Model, sea_orm::DbErr>
    where
        A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
        A::Entity: TenantOwned,
        <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
    {
        model.set(
            <A::Entity as TenantOwned>::tenant_column(),
            self.tenant.into_uuid().into(),
        );
        model.insert(&self.tx).await
    }
}

/// The door to platform-wide work, opened by [`Db::unscoped_system`] with a logged reason.
/// Open a read or a write transaction from it.
#[derive(Debug)]
pub struct SystemDoor<'a> {
    db: &'a Db,
    reason: &'static str,
}

impl<'a> SystemDoor<'a> {
    pub(super) fn new(db: &'a Db, reason: &'static str) -> Self {
        Self { db, reason }
    }

    /// Why this access was opened.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// A read-only platform transaction.
    pub async fn read(self) -> AppResult<SystemTx> {
        SystemTx::begin(self.db, false).await
    }

    /// A platform transaction that may write; nothing is kept unless it commits.
    pub async fn begin(self) -> AppResult<SystemTx> {
        SystemTx::begin(self.db, true).await
    }
}

/// A platform-wide transaction.
#[derive(Debug)]
pub struct SystemTx {
    tx: DatabaseTransaction,
    clock: SharedClock,
}

impl SystemTx {
    async fn begin(db: &Db, write: bool) -> AppResult<Self> {
        // On the platform's own connection: on PostgreSQL its role is the only one that
        // row-level security lets see every tenant (a `platform_door` policy per table).
        let tx = begin(&db.platform, write).await?;
        Ok(Self {
            tx,
            clock: db.clock.clone(),
        })
    }

    /// Makes the writes permanent; dropping discards them.
    pub async fn commit(self) -> AppResult<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Continues this transaction inside `tenant`, a record this transaction just created
    /// or read (so it is known to exist): a new tenant's first rows are written together
    /// with the tenant itself.
    pub async fn into_new_tenant(self, tenant: &crate::tenancy::Tenant) -> AppResult<TenantScope> {
        self.into_tenant_id(tenant.id).await
    }

    async fn into_tenant_id(self, tenant: TenantId) -> AppResult<TenantScope> {
        if self.tx.get_database_backend() == DbBackend::Postgres {
            self.tx
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT set_config('app.tenant_id', $1, true)",
                    [tenant.to_string().into()],
                ))
                .await?;
        }
        Ok(TenantScope {
            tx: self.tx,
            tenant,
            clock: self.clock,
        })
    }

    pub(super) fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub(super) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// Begins a transaction. On SQLite a writing one takes the write lock at `BEGIN`
/// (`IMMEDIATE`), so two writers queue on the busy timeout instead of failing when a read
/// lock cannot be upgraded.
async fn begin(conn: &sea_orm::DatabaseConnection, write: bool) -> AppResult<DatabaseTransaction> {
    let options = TransactionOptions {
        access_mode: (!write && conn.get_database_backend() == DbBackend::Postgres)
            .then_some(AccessMode::ReadOnly),
        sqlite_transaction_mode: write.then_some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    Ok(conn.begin_with_options(options).await?)
}
