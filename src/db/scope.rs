//! The raw transaction and the typed table handles: the only module that holds a database
//! connection.
//!
//! Promises:
//! - The transaction never leaves this module. Repositories (the rest of `db`) reach rows
//!   only through a [`Table`] handle, whose queries are built here already filtered: a
//!   tenant scope's handle adds `tenant_id = <its tenant>` (and, for store-owned tables in
//!   a request narrowed by `X-Store-ID`, `store = <that store>`) to every select, update
//!   and delete, and sets `tenant_id` on every insert. A [`Scoped`] query can be narrowed
//!   further, never widened, so an unfiltered query on a tenant table does not compile.
//! - A handle without the tenant filter exists only for tables that belong to no tenant
//!   ([`Global`]: the global door) or from the platform door, which is opened with a proof
//!   (`db/platform.rs`).

use std::marker::PhantomData;

use sea_orm::sea_query::{IntoCondition, IntoValueTuple, LockBehavior, LockType};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend,
    DbErr, DeleteMany, EntityTrait, IdenStatic, IntoActiveModel, IntoSimpleExpr, Iterable,
    PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement,
    TransactionOptions, TransactionTrait, TryGetableMany, UpdateMany, sea_query::SimpleExpr,
};

use crate::clock::SharedClock;
use crate::error::AppResult;
use crate::ids::{StoreId, TenantId};
use crate::tenancy::access::AccessEvent;

mod unit;
pub(super) use unit::TwoReads;
use unit::Unit;

/// An entity whose rows belong to one tenant: reachable from a [`TenantScope`].
pub(super) trait TenantOwned: EntityTrait {
    /// Its `tenant_id` column, set on every insert; `None` for a view or for the tenants
    /// table itself, which a scope reads but never inserts into.
    fn tenant_column() -> Option<Self::Column>;
    /// The condition that keeps one tenant's rows.
    fn of_tenant(tenant: uuid::Uuid) -> Condition {
        match Self::tenant_column() {
            Some(column) => Condition::all().add(column.eq(tenant)),
            None => Condition::all().add(SimpleExpr::Constant(false.into())),
        }
    }
    /// The column naming the store a row belongs to, for tables whose rows belong to one
    /// store: a scope narrowed to a store (`X-Store-ID`) keeps that store's rows only.
    fn store_column() -> Option<Self::Column> {
        None
    }
}

/// A data-plane entity (a domain module's table): its rows belong to one tenant and live
/// where the tenant's isolation tier says, reachable from a [`DataScope`] only (never from
/// a control-plane [`TenantScope`], and a data scope reaches no control table).
pub(super) trait DataOwned: EntityTrait {
    /// Its `tenant_id` column.
    fn tenant_column() -> Self::Column;
    /// The column naming the store a row belongs to, for tables whose rows belong to one
    /// store: a scope narrowed to a store (`X-Store-ID`) keeps that store's rows only.
    fn store_column() -> Option<Self::Column> {
        None
    }
}

/// An entity whose rows belong to no tenant (users, sessions, tokens): reachable from the
/// global door without a tenant filter.
pub(super) trait Global: EntityTrait {}

/// A global catalogue every tenant may read (the plans): reachable, read-only, from a
/// [`TenantScope`] too. The run-time role has `SELECT` on it and nothing more.
pub(super) trait Public: Global {}

/// Where access changes go once the unit of work that made them has committed (the
/// access cache: `crate::tenancy::access`).
pub trait AfterCommit: Send + Sync {
    /// Publishes `events`; called after the commit succeeded, never before.
    fn publish(&self, events: Vec<AccessEvent>) -> futures::future::BoxFuture<'_, ()>;
}

/// The database transaction under a unit of work, with the clock that stamps its rows and
/// the access changes to publish when it commits.
struct Tx {
    tx: Unit,
    clock: SharedClock,
    after_commit: Option<std::sync::Arc<dyn AfterCommit>>,
    events: std::sync::Mutex<Vec<AccessEvent>>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").finish_non_exhaustive()
    }
}

impl Tx {
    /// Begins a transaction. On SQLite a writing one takes the write lock at `BEGIN`
    /// (`IMMEDIATE`), so two writers queue on the busy timeout instead of failing when a
    /// read lock cannot be upgraded.
    ///
    /// On PostgreSQL a read-only transaction is made read-only by the first statement
    /// after `BEGIN` ([`Tx::settle`]), together with the tenant when there is one, instead
    /// of a separate `SET TRANSACTION READ ONLY` round trip.
    async fn begin(
        conn: &sea_orm::DatabaseConnection,
        hooks: &Hooks,
        write: bool,
    ) -> AppResult<Self> {
        let options = TransactionOptions {
            sqlite_transaction_mode: write.then_some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Self::begin_with(conn, hooks, options).await
    }

    /// Begins a transaction with `options`.
    async fn begin_with(
        conn: &sea_orm::DatabaseConnection,
        hooks: &Hooks,
        options: TransactionOptions,
    ) -> AppResult<Self> {
        Ok(Self {
            tx: Unit::Tx(conn.begin_with_options(options).await?),
            clock: hooks.clock.clone(),
            after_commit: hooks.after_commit.clone(),
            events: Default::default(),
        })
    }

    /// A tenant's read on PostgreSQL without a transaction of its own: each statement is
    /// sent with the tenant binding in one round trip (see `scope/unit.rs` for why this
    /// isolates exactly as a read-only transaction does).
    fn each_statement(pools: &Pools, tenant: TenantId, schema: Option<&str>) -> AppResult<Self> {
        let reads = pools.reads.clone().ok_or_else(|| {
            crate::error::AppError::internal(anyhow::anyhow!(
                "tenant reads on a database with no read pool"
            ))
        })?;
        let hooks = &pools.hooks;
        Ok(Self {
            tx: Unit::EachStatement(unit::EachStatement::new(
                reads,
                &pools.conn,
                tenant,
                schema,
            )?),
            clock: hooks.clock.clone(),
            after_commit: hooks.after_commit.clone(),
            events: Default::default(),
        })
    }

    /// The first statement of a PostgreSQL unit of work, one round trip: binds the tenant
    /// for row-level security (transaction-local, so a pooled connection never carries a
    /// tenant into the next unit of work) and, for a read, makes the transaction read-only
    /// (allowed at any point: only going back to read-write must come first).
    async fn settle(&self, tenant: Option<TenantId>, write: bool) -> AppResult<()> {
        match self.tx.transaction() {
            Some(tx) => settle(tx, tenant, write).await,
            // Each statement carries its own binding.
            None => Ok(()),
        }
    }

    /// Makes the writes permanent; dropping discards them.
    async fn commit(self) -> AppResult<()> {
        self.tx.commit().await?;
        let events = self.events.into_inner().unwrap_or_else(|e| e.into_inner());
        if let (Some(sink), false) = (&self.after_commit, events.is_empty()) {
            sink.publish(events).await;
        }
        Ok(())
    }

    fn invalidates(&self, event: AccessEvent) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if !events.contains(&event) {
            events.push(event);
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// A handle on every row of `E`; only the doors below hand it out.
    fn all_rows<E: EntityTrait>(&self) -> Table<'_, E, Unfiltered> {
        Table {
            tx: &self.tx,
            filter: Condition::all(),
            tenant: None,
            _marker: PhantomData,
        }
    }
}

/// The first statement of a PostgreSQL unit of work, one round trip (see [`Tx::settle`]).
async fn settle(tx: &impl ConnectionTrait, tenant: Option<TenantId>, write: bool) -> AppResult<()> {
    if tx.get_database_backend() != DbBackend::Postgres || (tenant.is_none() && write) {
        return Ok(());
    }
    let sql = match (tenant.is_some(), write) {
        (true, true) => "SELECT set_config('app.tenant_id', $1, true)",
        (true, false) => {
            "SELECT set_config('app.tenant_id', $1, true), \
                    set_config('transaction_read_only', 'on', true)"
        }
        (false, _) => "SELECT set_config('transaction_read_only', 'on', true)",
    };
    let values: Vec<sea_orm::Value> = tenant.map(|t| t.to_string().into()).into_iter().collect();
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// The total a [`Scoped::count_statement`] answered.
fn counted_rows(counted: &[sea_orm::QueryResult]) -> Result<u64, DbErr> {
    let total = match counted.first() {
        Some(row) => row.try_get::<i64>("", "num_items")?,
        None => 0,
    };
    Ok(u64::try_from(total).unwrap_or(0))
}

/// A table handle whose rows are filtered by a tenant ([`Filtered`]) or not ([`Unfiltered`]).
pub(super) struct Table<'s, E: EntityTrait, D, C = Unit> {
    tx: &'s C,
    filter: Condition,
    /// On a tenant handle: the tenant, and the column that names it.
    tenant: Option<(TenantId, Option<E::Column>)>,
    _marker: PhantomData<D>,
}

/// A handle filtered to one tenant.
#[derive(Debug)]
pub(super) struct Filtered;
/// A handle on a global table, or from the platform door.
#[derive(Debug)]
pub(super) struct Unfiltered;

/// A query built by a [`Table`]: it can be narrowed and run, never widened.
#[derive(Debug)]
pub(super) struct Scoped<'s, Q, C = Unit> {
    tx: &'s C,
    query: Q,
}

impl<E: EntityTrait, D, C> std::fmt::Debug for Table<'_, E, D, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("table", &E::default().table_name())
            .field("filter", &self.filter)
            .finish()
    }
}

impl<'s, E: EntityTrait, D, C: ConnectionTrait> Table<'s, E, D, C> {
    /// `SELECT …` with the handle's filter.
    pub(super) fn find(&self) -> Scoped<'s, Select<E>, C> {
        Scoped {
            tx: self.tx,
            query: E::find().filter(self.filter.clone()),
        }
    }

    /// One row by the rest of its primary key (without `tenant_id` on a tenant handle).
    pub(super) fn by_id<K: IntoValueTuple>(&self, key: K) -> Scoped<'s, Select<E>, C> {
        let skip = self.tenant.and_then(|(_, c)| c);
        let mut key_columns = E::PrimaryKey::iter()
            .map(PrimaryKeyToColumn::into_column)
            .filter(|c| skip.is_none_or(|s| s.as_str() != c.as_str()));
        let mut query = self.find();
        for value in key.into_value_tuple() {
            if let Some(column) = key_columns.next() {
                query = query.filter(column.eq(value));
            }
        }
        query
    }

    /// `UPDATE …` with the handle's filter.
    pub(super) fn update(&self) -> Scoped<'s, UpdateMany<E>, C> {
        Scoped {
            tx: self.tx,
            query: E::update_many().filter(self.filter.clone()),
        }
    }

    /// `DELETE …` with the handle's filter.
    pub(super) fn delete(&self) -> Scoped<'s, DeleteMany<E>, C> {
        Scoped {
            tx: self.tx,
            query: E::delete_many().filter(self.filter.clone()),
        }
    }

    /// Inserts `model`; on a tenant handle with `tenant_id` set to its tenant, whatever
    /// the caller put there.
    pub(super) async fn insert<A>(&self, mut model: A) -> Result<E::Model, DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        if let Some((tenant, column)) = self.tenant {
            let Some(column) = column else {
                return Err(DbErr::Custom(format!(
                    "{} is not inserted from a tenant scope",
                    E::default().table_name()
                )));
            };
            model.set(column, tenant.into_uuid().into());
        }
        model.insert(self.tx).await
    }

    /// Sets `tenant_id` on each of `models` on a tenant handle (refusing a table that
    /// names no tenant), as [`Table::insert`] does for one.
    fn owned<A>(&self, models: Vec<A>) -> Result<Vec<A>, DbErr>
    where
        A: ActiveModelTrait<Entity = E>,
    {
        let Some((tenant, column)) = self.tenant else {
            return Ok(models);
        };
        let Some(column) = column else {
            return Err(DbErr::Custom(format!(
                "{} is not inserted from a tenant scope",
                E::default().table_name()
            )));
        };
        Ok(models
            .into_iter()
            .map(|mut model| {
                model.set(column, tenant.into_uuid().into());
                model
            })
            .collect())
    }

    /// Inserts those of `models` whose primary key is new, in one statement; returns the
    /// keys it inserted (a key already there, also one a concurrent transaction inserted,
    /// is skipped and not returned).
    pub(super) async fn insert_new<A>(
        &self,
        models: Vec<A>,
    ) -> Result<Vec<<E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType>, DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        match E::insert_many(self.owned(models)?)
            .on_conflict_do_nothing()
            .exec_with_returning_keys(self.tx)
            .await?
        {
            sea_orm::TryInsertResult::Inserted(keys) => Ok(keys),
            _ => Ok(Vec::new()),
        }
    }

    /// Inserts `models` in one statement, resolving a clash as `on_conflict` says, and
    /// returns the rows as written.
    pub(super) async fn upsert<A>(
        &self,
        models: Vec<A>,
        on_conflict: sea_orm::sea_query::OnConflict,
    ) -> Result<Vec<E::Model>, DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        E::insert_many(self.owned(models)?)
            .on_conflict(on_conflict)
            .exec_with_returning(self.tx)
            .await
    }

    /// The backend, for the few expressions that differ between the two.
    pub(super) fn backend(&self) -> DbBackend {
        self.tx.get_database_backend()
    }

    /// Serialises writers on `key` until the transaction ends (PostgreSQL; SQLite writers are serial already).
    pub(super) async fn advisory_lock(&self, key: &str) -> AppResult<()> {
        if self.tx.get_database_backend() == DbBackend::Postgres {
            self.tx
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 42))",
                    [key.into()],
                ))
                .await?;
        }
        Ok(())
    }
}

impl<'s, E: EntityTrait, C: ConnectionTrait> Table<'s, E, Unfiltered, C> {
    /// Inserts `models` as they are, in one statement (an archive's rows, ids kept).
    pub(super) async fn insert_rows<A>(&self, models: Vec<A>) -> Result<(), DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        if models.is_empty() {
            return Ok(());
        }
        E::insert_many(models)
            .exec_without_returning(self.tx)
            .await?;
        Ok(())
    }
    /// Writes back a changed row by its primary key.
    pub(super) async fn save<A>(&self, model: A) -> Result<E::Model, DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        model.update(self.tx).await
    }
}

impl<Q: QueryFilter, C> Scoped<'_, Q, C> {
    /// Narrows the query.
    pub(super) fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.query = self.query.filter(condition);
        self
    }
}

impl<'s, E: EntityTrait, C: ConnectionTrait> Scoped<'s, Select<E>, C> {
    /// Orders ascending by `column`.
    pub(super) fn order_by_asc(mut self, column: impl IntoSimpleExpr) -> Self {
        self.query = self.query.order_by_asc(column);
        self
    }

    /// Orders descending by `column`.
    pub(super) fn order_by_desc(mut self, column: impl IntoSimpleExpr) -> Self {
        self.query = self.query.order_by_desc(column);
        self
    }

    /// At most `n` rows.
    pub(super) fn limit(mut self, n: u64) -> Self {
        self.query = self.query.limit(n);
        self
    }

    /// Locks the rows read until the transaction ends, skipping rows another transaction
    /// holds (PostgreSQL; SQLite has one writer at a time anyway).
    pub(super) fn lock_skip_locked(mut self) -> Self {
        if self.tx.get_database_backend() == DbBackend::Postgres {
            self.query = self
                .query
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        self
    }

    /// Locks the rows read until the transaction ends (PostgreSQL `FOR UPDATE`).
    pub(super) fn lock_for_update(mut self) -> Self {
        if self.tx.get_database_backend() == DbBackend::Postgres {
            self.query = self.query.lock(LockType::Update);
        }
        self
    }

    /// Every row.
    pub(super) async fn all(self) -> Result<Vec<E::Model>, DbErr> {
        self.query.all(self.tx).await
    }

    /// The first row.
    pub(super) async fn one(self) -> Result<Option<E::Model>, DbErr> {
        self.query.one(self.tx).await
    }

    /// How many rows match.
    pub(super) async fn count(&self) -> Result<u64, DbErr> {
        let counted = self
            .tx
            .query_all_raw(self.count_statement(self.tx.get_database_backend()))
            .await?;
        counted_rows(&counted)
    }

    /// `SELECT COUNT(*) AS num_items` over this query, without its order and limits.
    fn count_statement(&self, backend: DbBackend) -> Statement {
        let mut list = self.query.clone().into_query();
        list.reset_limit().reset_offset().clear_order_by();
        backend.build(
            sea_orm::sea_query::SelectStatement::new()
                .expr_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "num_items")
                .from_subquery(list, "sub_query"),
        )
    }

    /// One page in keyset order of `key` (a UUIDv7 column, so creation order; `newest_first`
    /// reverses it), with the total of the whole list when `page.count`: the count and the
    /// page in one round trip where the unit of work can ([`TwoReads`]).
    pub(super) async fn page(
        self,
        key: E::Column,
        page: crate::page::PageRequest,
        newest_first: bool,
    ) -> Result<crate::page::Page<E::Model>, DbErr>
    where
        E::Model: Sync,
        C: TwoReads,
    {
        let backend = self.tx.get_database_backend();
        let count = page.count.then(|| self.count_statement(backend));
        let mut query = self;
        if let Some(after) = page.after {
            query = query.filter(if newest_first {
                key.lt(after)
            } else {
                key.gt(after)
            });
        }
        query = if newest_first {
            query.order_by_desc(key)
        } else {
            query.order_by_asc(key)
        };
        let query = query.limit(page.first + 1);
        let read = query.query.build(backend);
        let (total, rows) = match count {
            Some(count) => {
                let (counted, rows) = query.tx.two_reads(count, read).await?;
                (counted_rows(&counted)?, rows)
            }
            None => (0, query.tx.query_all_raw(read).await?),
        };
        let mut rows = rows
            .iter()
            .map(|row| <E::Model as sea_orm::FromQueryResult>::from_query_result(row, ""))
            .collect::<Result<Vec<_>, _>>()?;
        let has_next = rows.len() as u64 > page.first;
        rows.truncate(page.first as usize);
        Ok(crate::page::Page {
            items: rows,
            has_next,
            has_previous: page.after.is_some(),
            total,
        })
    }

    /// Orders by the primary key, column by column: a stable order to stream in.
    pub(super) fn order_by_key(mut self) -> Self {
        for key in E::PrimaryKey::iter() {
            self.query = self.query.order_by_asc(key.into_column());
        }
        self
    }

    /// The rows one at a time, as the database sends them (for tables too large to hold).
    pub(super) async fn stream(
        self,
    ) -> Result<
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<E::Model, DbErr>> + Send + 's>>,
        DbErr,
    >
    where
        C: sea_orm::StreamTrait + Send + Sync,
        E::Model: Send + Sync + 's,
    {
        Ok(Box::pin(self.query.stream(self.tx).await?))
    }

    /// The values of one column (`distinct`: each once).
    pub(super) async fn values<T>(self, column: E::Column, distinct: bool) -> Result<Vec<T>, DbErr>
    where
        T: TryGetableMany + Send + Sync,
    {
        let mut query = self.query.select_only().column(column);
        if distinct {
            query = query.distinct();
        }
        query.into_tuple::<T>().all(self.tx).await
    }
}

impl<E: EntityTrait, C: ConnectionTrait> Scoped<'_, UpdateMany<E>, C> {
    /// Sets `column` to `value`.
    pub(super) fn set(mut self, column: E::Column, value: impl Into<SimpleExpr>) -> Self {
        self.query = self.query.col_expr(column, value.into());
        self
    }

    /// Runs the update; returns how many rows changed.
    pub(super) async fn exec(self) -> Result<u64, DbErr> {
        Ok(self.query.exec(self.tx).await?.rows_affected)
    }
}

impl<E: EntityTrait, C: ConnectionTrait> Scoped<'_, DeleteMany<E>, C> {
    /// Runs the delete; returns how many rows went.
    pub(super) async fn exec(self) -> Result<u64, DbErr> {
        Ok(self.query.exec(self.tx).await?.rows_affected)
    }
}

/// A unit of work inside one tenant (and, when the request is narrowed by `X-Store-ID`,
/// one store). Every query it builds is filtered by them.
#[derive(Debug)]
pub struct TenantScope {
    tx: Tx,
    tenant: TenantId,
    store: Option<StoreId>,
}

impl TenantScope {
    /// A public catalogue (read it only: the run-time role cannot write it).
    pub(super) fn catalogue<E: Public>(&self) -> Table<'_, E, Unfiltered> {
        self.tx.all_rows()
    }

    async fn begin(
        pools: &Pools,
        tenant: TenantId,
        store: Option<StoreId>,
        write: bool,
    ) -> AppResult<Self> {
        let tx = if !write && pools.backend() == DbBackend::Postgres {
            Tx::each_statement(pools, tenant, None)?
        } else {
            let tx = Tx::begin(&pools.conn, &pools.hooks, write).await?;
            tx.settle(Some(tenant), write).await?;
            tx
        };
        Ok(Self { tx, tenant, store })
    }

    /// Continues `tx`, which may write, inside `tenant`.
    async fn inside(tx: Tx, tenant: TenantId, store: Option<StoreId>) -> AppResult<Self> {
        tx.settle(Some(tenant), true).await?;
        Ok(Self { tx, tenant, store })
    }

    /// The tenant this scope is bound to.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// The store this scope is narrowed to, if any.
    pub fn store_id(&self) -> Option<StoreId> {
        self.store
    }

    /// Makes the unit of work permanent with its audit entry, appended to this tenant's
    /// chain in the same transaction, then publishes the access changes it recorded.
    /// Dropping the scope instead discards everything.
    pub async fn commit(self, audit: crate::audit::Audit) -> AppResult<()> {
        super::audit::append(
            self.table::<super::entities::audit_log::Entity>(),
            self.tenant.into_uuid(),
            &audit.actor,
            audit.entry,
            self.now(),
        )
        .await?;
        self.tx.commit().await
    }

    /// Commits a unit of work whose writes are not the tenant's business to audit (the
    /// outbox's own bookkeeping, a job's progress); `why` is logged.
    pub async fn commit_unaudited(self, why: &'static str) -> AppResult<()> {
        tracing::debug!(why, "unaudited commit");
        self.tx.commit().await
    }

    /// Records that this unit of work changes who may do what in the tenant (roles,
    /// memberships, modules, a store's status): published after the commit.
    pub fn invalidates_access(&self) {
        self.tx.invalidates(AccessEvent::Tenant(self.tenant));
    }

    /// Records that this unit of work gives `user` a new in-app notification: their
    /// `notificationReceived` subscribers hear of it after the commit, on every node.
    pub fn notifies(&self, user: crate::ids::UserId) {
        self.tx
            .invalidates(AccessEvent::Notified(self.tenant, user));
    }

    /// Now, by the database's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.tx.now()
    }

    /// This tenant's rows of `E` (and this store's, for a store-owned table in a narrowed
    /// scope).
    pub(super) fn table<E: TenantOwned>(&self) -> Table<'_, E, Filtered> {
        let tenant = self.tenant.into_uuid();
        let mut filter = E::of_tenant(tenant);
        if let (Some(store), Some(column)) = (self.store, E::store_column()) {
            filter = filter.add(column.eq(store.into_uuid()));
        }
        Table {
            tx: &self.tx.tx,
            filter,
            tenant: Some((self.tenant, E::tenant_column())),
            _marker: PhantomData,
        }
    }
}

/// A unit of work on one tenant's data plane (the domain modules' tables), wherever its
/// isolation tier puts them: the shared tables under row-level security (`SHARED`), or
/// its own schema (`SCHEMA`, by a transaction-local `search_path`). Every query is
/// filtered by the tenant, and by the store for store-owned rows in a narrowed request.
/// A writing one holds the tenant's row `FOR SHARE` until it ends, so a move's switch
/// (which takes it `FOR UPDATE`) waits for writes in flight and holds new ones back: the
/// write freeze, for that tenant only.
#[derive(Debug)]
pub struct DataScope {
    /// The main database's transaction: the tier (locked while this writes) and the audit.
    tx: Tx,
    /// On the DATABASE tier, the transaction in the tenant's own database.
    data: Option<Unit>,
    tenant: TenantId,
    store: Option<StoreId>,
    tier: crate::tenancy::IsolationTier,
}

impl DataScope {
    async fn begin(
        pools: &Pools,
        tenant: TenantId,
        store: Option<StoreId>,
        write: bool,
    ) -> AppResult<Self> {
        if !write && pools.backend() == DbBackend::Postgres {
            return Self::begin_read(pools, tenant, store).await;
        }
        let tx = Tx::begin(&pools.conn, &pools.hooks, write).await?;
        tx.settle(Some(tenant), write).await?;
        let mut tier = crate::tenancy::IsolationTier::Shared;
        let mut data = None;
        if tx.tx.get_database_backend() == DbBackend::Postgres {
            // One round trip: the tier (locked against a switch while this writes), the
            // sealed address of a tenant database, and for a tenant in its own schema the
            // search path to it, transaction-local.
            let sql = format!(
                "SELECT isolation, data_url_sealed, set_config('search_path', CASE WHEN isolation = 'SCHEMA' \
                 THEN quote_ident($2) || ', public' ELSE current_setting('search_path') END, true) \
                 FROM tenants WHERE id = $1{}",
                if write { " FOR SHARE" } else { "" }
            );
            let row = tx
                .tx
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    [
                        tenant.into_uuid().into(),
                        crate::tiers::schema_name(tenant).into(),
                    ],
                ))
                .await?
                .ok_or(crate::error::AppError::NotFound { entity: "tenant" })?;
            tier = crate::tenancy::IsolationTier::from_stored(
                &row.try_get::<String>("", "isolation")?,
            );
            if tier == crate::tenancy::IsolationTier::Database {
                let conn = pools.tenant_database(tenant, &row).await?;
                let dtx = conn.begin().await?;
                settle(&dtx, Some(tenant), write).await?;
                data = Some(Unit::Tx(dtx));
            }
        }
        Ok(Self {
            tx,
            data,
            tenant,
            store,
            tier,
        })
    }

    /// A read of the data plane on PostgreSQL, statement by statement (see
    /// `scope/unit.rs`): one round trip finds the tier, then each read carries the tenant
    /// binding, and on the SCHEMA tier the search path to the tenant's schema. As in a
    /// read transaction at READ COMMITTED, the tier and each read are separate snapshots.
    async fn begin_read(
        pools: &Pools,
        tenant: TenantId,
        store: Option<StoreId>,
    ) -> AppResult<Self> {
        use crate::tenancy::IsolationTier;
        let mut tx = Tx::each_statement(pools, tenant, None)?;
        let row = tx
            .tx
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT isolation, data_url_sealed FROM tenants WHERE id = $1",
                [tenant.into_uuid().into()],
            ))
            .await?
            .ok_or(crate::error::AppError::NotFound { entity: "tenant" })?;
        let tier = IsolationTier::from_stored(&row.try_get::<String>("", "isolation")?);
        if tier == IsolationTier::Schema {
            let schema = crate::tiers::schema_name(tenant);
            tx = Tx::each_statement(pools, tenant, Some(&schema))?;
        }
        let data = if tier == IsolationTier::Database {
            let conn = pools.tenant_database(tenant, &row).await?;
            let reads = unit::Reads::Shared(conn.get_postgres_connection_pool().clone());
            Some(Unit::EachStatement(unit::EachStatement::new(
                reads, &conn, tenant, None,
            )?))
        } else {
            None
        };
        Ok(Self {
            tx,
            data,
            tenant,
            store,
            tier,
        })
    }

    /// The tenant this scope is bound to.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// Where this tenant's data plane was found.
    pub fn tier(&self) -> crate::tenancy::IsolationTier {
        self.tier
    }

    /// Now, by the database's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.tx.now()
    }

    /// This tenant's rows of `E` (and this store's, for a store-owned table in a narrowed
    /// scope).
    pub(super) fn table<E: DataOwned>(&self) -> Table<'_, E, Filtered> {
        let mut filter = Condition::all().add(E::tenant_column().eq(self.tenant.into_uuid()));
        if let (Some(store), Some(column)) = (self.store, E::store_column()) {
            filter = filter.add(column.eq(store.into_uuid()));
        }
        Table {
            tx: self.data.as_ref().unwrap_or(&self.tx.tx),
            filter,
            tenant: Some((self.tenant, Some(E::tenant_column()))),
            _marker: PhantomData,
        }
    }

    /// Makes the unit of work permanent with its audit entry, appended to the tenant's
    /// chain (in the main database) in the same transaction. Dropping discards everything.
    pub async fn commit(self, audit: crate::audit::Audit) -> AppResult<()> {
        super::audit::append(
            Table::<super::entities::audit_log::Entity, Filtered> {
                tx: &self.tx.tx,
                filter: Condition::all(),
                tenant: Some((
                    self.tenant,
                    Some(super::entities::audit_log::Column::TenantId),
                )),
                _marker: PhantomData,
            },
            self.tenant.into_uuid(),
            &audit.actor,
            audit.entry,
            self.now(),
        )
        .await?;
        // A tenant database's writes commit first: the audit entry never records what
        // did not happen (a failure between the two leaves a write without its entry,
        // logged here).
        if let Some(data) = self.data {
            data.commit().await?;
        }
        let tenant = self.tenant;
        self.tx.commit().await.inspect_err(|e| {
            tracing::error!(%tenant, error = %e, "a tenant database write committed without its audit entry")
        })
    }
}

/// A transaction through the global door: tables that belong to no tenant.
#[derive(Debug)]
pub struct GlobalTx {
    tx: Tx,
}

impl GlobalTx {
    pub(super) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.tx.now()
    }

    /// Records that `user`'s sessions end in this unit of work: published after the commit
    /// (open sockets close, cached callers are dropped).
    pub fn ends_sessions_of(&self, user: crate::ids::UserId) {
        self.tx.invalidates(AccessEvent::Sessions(user));
    }

    /// Records that what `user`'s sessions carry changed (the platform-admin flag): after
    /// the commit every node reads their sessions again; the sessions stay live.
    pub fn changes_sessions_of(&self, user: crate::ids::UserId) {
        self.tx.invalidates(AccessEvent::Sessions(user));
    }

    /// Every row of a table that belongs to no tenant.
    pub(super) fn global<E: Global>(&self) -> Table<'_, E, Unfiltered> {
        self.tx.all_rows()
    }

    /// Makes the writes permanent; dropping discards them.
    pub async fn commit(self) -> AppResult<()> {
        self.tx.commit().await
    }
}

/// A transaction through the platform door: every tenant's rows, and the global tables
/// (through `Deref`), in one unit of work.
#[derive(Debug)]
pub struct PlatformTx {
    global: GlobalTx,
}

impl PlatformTx {
    /// Records that this unit of work changes who may do what in `tenant`: published after
    /// the commit.
    pub fn invalidates_access_of(&self, tenant: TenantId) {
        self.global.tx.invalidates(AccessEvent::Tenant(tenant));
    }

    /// Every row of any table, whichever tenant it belongs to.
    pub(super) fn across_tenants<E: EntityTrait>(&self) -> Table<'_, E, Unfiltered> {
        self.global.tx.all_rows()
    }

    /// Makes the writes permanent; dropping discards them.
    pub async fn commit(self) -> AppResult<()> {
        self.global.commit().await
    }

    /// Continues this transaction inside `tenant`, which the caller has just read or
    /// created in this transaction (so it is known to exist): a new tenant's first rows
    /// are written together with the tenant itself.
    pub(super) async fn continue_in(self, tenant: TenantId) -> AppResult<TenantScope> {
        TenantScope::inside(self.global.tx, tenant, None).await
    }
}

impl std::ops::Deref for PlatformTx {
    type Target = GlobalTx;
    fn deref(&self) -> &GlobalTx {
        &self.global
    }
}

/// The connections: tenant work on one pool, the global and platform doors on another
/// (on PostgreSQL a role that row-level security lets see every tenant).
#[derive(Clone)]
pub(super) struct Pools {
    /// The tenant-facing connection (`DATABASE_URL`).
    conn: sea_orm::DatabaseConnection,
    /// The doors' connection (`PLATFORM_DATABASE_URL`); on SQLite the same pool.
    platform: sea_orm::DatabaseConnection,
    hooks: Hooks,
    /// On PostgreSQL, the connections tenant reads run on (`scope/unit.rs`).
    reads: Option<unit::Reads>,
    /// The pools of tenants' own databases (DATABASE tier).
    pub(super) databases: Option<std::sync::Arc<super::data::TenantDatabases>>,
}

/// What every unit of work is given: the clock and where access changes go.
#[derive(Clone)]
pub(super) struct Hooks {
    pub(super) clock: SharedClock,
    pub(super) after_commit: Option<std::sync::Arc<dyn AfterCommit>>,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Pools {
    pub(super) fn new(
        conn: sea_orm::DatabaseConnection,
        platform: sea_orm::DatabaseConnection,
        clock: SharedClock,
    ) -> Result<Self, DbErr> {
        let reads = match conn.get_database_backend() {
            DbBackend::Postgres => Some(unit::Reads::like(conn.get_postgres_connection_pool())?),
            _ => None,
        };
        Ok(Self {
            conn,
            platform,
            reads,
            hooks: Hooks {
                clock,
                after_commit: None,
            },
            databases: None,
        })
    }

    /// Publishes access changes to `sink` after each commit.
    pub(super) fn publish_to(&mut self, sink: std::sync::Arc<dyn AfterCommit>) {
        self.hooks.after_commit = Some(sink);
    }

    pub(super) fn clock(&self) -> &SharedClock {
        &self.hooks.clock
    }

    pub(super) fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    pub(super) async fn tenant(
        &self,
        tenant: TenantId,
        store: Option<StoreId>,
        write: bool,
    ) -> AppResult<TenantScope> {
        TenantScope::begin(self, tenant, store, write).await
    }

    /// Opens a tenant's data plane where its tier puts it.
    pub(super) async fn data(
        &self,
        tenant: TenantId,
        store: Option<StoreId>,
        write: bool,
    ) -> AppResult<DataScope> {
        DataScope::begin(self, tenant, store, write).await
    }

    /// The pool of a tenant on the DATABASE tier, from its `tenants` row's sealed address.
    async fn tenant_database(
        &self,
        tenant: TenantId,
        row: &sea_orm::QueryResult,
    ) -> AppResult<sea_orm::DatabaseConnection> {
        let sealed: Option<String> = row.try_get("", "data_url_sealed")?;
        let databases = self.databases.as_ref().ok_or_else(|| {
            crate::error::AppError::internal(anyhow::anyhow!(
                "a tenant is on the DATABASE tier but no data keys are loaded"
            ))
        })?;
        databases.pool(tenant, sealed.as_deref()).await
    }

    /// Opens the global door (see `db/global.rs`), logging why.
    pub(super) async fn global(&self, reason: &'static str, write: bool) -> AppResult<GlobalTx> {
        tracing::debug!(reason, "global door");
        let tx = Tx::begin(&self.platform, &self.hooks, write).await?;
        tx.settle(None, write).await?;
        Ok(GlobalTx { tx })
    }

    /// Opens the platform door (see `db/platform.rs`) on the proof of a platform admin or
    /// a named system task, logging which.
    pub(super) async fn platform(
        &self,
        access: &super::platform::Access<'_>,
        write: bool,
    ) -> AppResult<PlatformTx> {
        tracing::debug!(access = %access, "platform door");
        let tx = Tx::begin(&self.platform, &self.hooks, write).await?;
        tx.settle(None, write).await?;
        Ok(PlatformTx {
            global: GlobalTx { tx },
        })
    }

    /// A read-only platform transaction on one snapshot of the database (PostgreSQL
    /// `REPEATABLE READ`; on SQLite a transaction's reads are one snapshot already): what a
    /// tenant's export reads, so an invoice is never exported without its lines.
    pub(super) async fn platform_snapshot(
        &self,
        access: &super::platform::Access<'_>,
    ) -> AppResult<PlatformTx> {
        tracing::debug!(access = %access, "platform door, one snapshot");
        let postgres = self.backend() == DbBackend::Postgres;
        let options = TransactionOptions {
            isolation_level: postgres.then_some(sea_orm::IsolationLevel::RepeatableRead),
            access_mode: postgres.then_some(sea_orm::AccessMode::ReadOnly),
            ..Default::default()
        };
        let tx = Tx::begin_with(&self.platform, &self.hooks, options).await?;
        Ok(PlatformTx {
            global: GlobalTx { tx },
        })
    }

    /// Checks that the database answers.
    pub(super) async fn ping(&self) -> AppResult<()> {
        self.conn.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// The tenant each open connection of the tenant pools (transactions' and reads')
    /// carries between units of work,
    /// read on all of them at once (held together, so each is a different connection): an
    /// empty string everywhere, or a binding outlived its unit of work. PostgreSQL only.
    pub(super) async fn bindings_left(&self) -> Result<Vec<String>, DbErr> {
        if self.backend() != DbBackend::Postgres {
            return Ok(Vec::new());
        }
        let pool = self.conn.get_postgres_connection_pool();
        let mut held = Vec::new();
        for _ in 0..pool.num_idle() {
            held.push(
                pool.acquire()
                    .await
                    .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into())))?,
            );
        }
        let mut reads = match &self.reads {
            Some(reads) => reads.idle().await?,
            None => Vec::new(),
        };
        let connections = held
            .iter_mut()
            .map(|c| &mut **c)
            .chain(reads.iter_mut().map(|r| r.connection()));
        let mut left = Vec::new();
        for conn in connections {
            let binding: String =
                sqlx::query_scalar("SELECT coalesce(current_setting('app.tenant_id', true), '')")
                    .fetch_one(conn)
                    .await
                    .map_err(|e| DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())))?;
            left.push(binding);
        }
        Ok(left)
    }

    /// One row of a read-only statement, on the tenant connection or the doors'.
    pub(super) async fn query_one(
        &self,
        platform: bool,
        sql: &str,
    ) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        let conn = if platform { &self.platform } else { &self.conn };
        conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
    }

    /// A global table read outside any transaction, one statement (hot paths: a session
    /// check on every request, subdomain routing).
    pub(super) fn global_now<E: Global>(
        &self,
    ) -> Table<'_, E, Unfiltered, sea_orm::DatabaseConnection> {
        tracing::trace!("global door, one statement");
        Table {
            tx: &self.platform,
            filter: Condition::all(),
            tenant: None,
            _marker: PhantomData,
        }
    }

    /// Every row of a read-only statement on the doors' connection.
    pub(super) async fn query_all_platform(
        &self,
        sql: &str,
    ) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        self.platform
            .query_all_raw(Statement::from_string(
                self.platform.get_database_backend(),
                sql,
            ))
            .await
    }

    /// The PostgreSQL pools (tenant, doors), shared with the job store and the throttles.
    pub(super) fn postgres_pools(&self) -> Option<(sqlx::PgPool, sqlx::PgPool)> {
        (self.backend() == DbBackend::Postgres).then(|| {
            (
                self.conn.get_postgres_connection_pool().clone(),
                self.platform.get_postgres_connection_pool().clone(),
            )
        })
    }

    pub(super) async fn close(self) {
        if let Some(reads) = &self.reads {
            reads.close();
        }
        self.conn.close().await.ok();
    }
}
