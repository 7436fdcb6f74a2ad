//! What a unit of work's statements run on: a transaction, or, for a tenant's read on
//! PostgreSQL, each statement in its own implicit transaction with the tenant bound in the
//! same round trip.
//!
//! Why the second is as strong as the first. A read-only unit of work at READ COMMITTED
//! (the only level a tenant read uses) gives each statement its own snapshot anyway, takes
//! no locks a read keeps, and writes nothing; what it must guarantee is that each
//! statement sees only its tenant's rows and that nothing of the binding outlives the unit.
//! [`EachStatement`] sends every statement as one simple-protocol message,
//! `SELECT set_config('app.tenant_id', <tenant>, true), set_config('transaction_read_only',
//! 'on', true); <statement>`, which PostgreSQL runs as one implicit transaction: the
//! binding and the read-only mode are transaction-local exactly as after a `BEGIN`, hold for
//! the statement, and end with it (committed or failed), so a pooled connection never
//! carries a tenant into the next checkout. One round trip instead of four (`BEGIN`,
//! binding, statement, `COMMIT`).
//!
//! These messages run on connections of their own ([`ReadConnections`]), taken back
//! without the ping sqlx's pool sends on every release: one round trip per read, not two.
//!
//! The simple protocol has no parameters, so the statement's values are written into it
//! as literals by sea-query's PostgreSQL writer. Only values whose literal form is known to
//! be inert are written that way (numbers, booleans, UUIDs, times, and strings, which are
//! always quoted and escaped as `E'…'` when they hold a quote, a backslash or a control
//! character). A statement with any other value (bytes, JSON, floats, arrays) runs in an
//! explicit transaction instead, with its parameters bound as usual: four round trips,
//! the same isolation.

use std::future::Future;
use std::pin::Pin;

use futures::{StreamExt, TryStreamExt};
use sea_orm::sea_query::{PostgresQueryBuilder, Value};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, RuntimeErr, Statement, StreamTrait, TransactionTrait,
};

use crate::ids::TenantId;

/// What a unit of work's statements run on.
pub(in crate::db) enum Unit {
    /// One transaction, committed or rolled back as a whole.
    Tx(DatabaseTransaction),
    /// A tenant's read on PostgreSQL: each statement its own transaction (see the module).
    EachStatement(EachStatement),
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tx(_) => f.write_str("Unit::Tx"),
            Self::EachStatement(each) => write!(f, "Unit::EachStatement({})", each.tenant),
        }
    }
}

impl Unit {
    /// Makes the writes permanent (a statement-by-statement read has none left to keep).
    pub(super) async fn commit(self) -> Result<(), DbErr> {
        match self {
            Self::Tx(tx) => tx.commit().await,
            Self::EachStatement(_) => Ok(()),
        }
    }

    /// The transaction, when this unit is one.
    pub(super) fn transaction(&self) -> Option<&DatabaseTransaction> {
        match self {
            Self::Tx(tx) => Some(tx),
            Self::EachStatement(_) => None,
        }
    }
}

/// Where a tenant read's one-message statements run.
#[derive(Clone)]
pub(in crate::db) enum Reads {
    /// The main database's read connections ([`ReadConnections`]).
    Own(deadpool::managed::Pool<ReadConnections>),
    /// A pool of sqlx's (a tenant's own database, a few connections and seldom hot).
    Shared(sqlx::PgPool),
}

impl Reads {
    /// Read connections like `pool`'s (same address, role and options), as many at most.
    pub(in crate::db) fn like(pool: &sqlx::PgPool) -> Result<Self, DbErr> {
        let pool = deadpool::managed::Pool::builder(ReadConnections {
            options: pool.connect_options(),
        })
        .max_size(pool.options().get_max_connections() as usize)
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .create_timeout(Some(std::time::Duration::from_secs(10)))
        .recycle_timeout(Some(std::time::Duration::from_secs(10)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbErr::Custom(format!("the read pool: {e}")))?;
        Ok(Self::Own(pool))
    }

    /// The rows of every statement of `sql`, each list closed by the end of its statement.
    async fn fetch(&self, sql: String) -> Result<Vec<Vec<QueryResult>>, DbErr> {
        let query = sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match self {
            Self::Own(pool) => {
                let mut conn = pool.get().await.map_err(acquire_err)?;
                conn.settled = false;
                let results = collect(query.fetch_many(&mut conn.conn)).await?;
                conn.settled = true;
                Ok(results)
            }
            Self::Shared(pool) => collect(query.fetch_many(pool)).await,
        }
    }

    /// Closes the read connections (a pool of sqlx's closes with its owner).
    pub(in crate::db) fn close(&self) {
        if let Self::Own(pool) = self {
            pool.close();
        }
    }

    /// Every idle connection of the main database's read pool, held at once (so each is a
    /// different one).
    pub(in crate::db) async fn idle(&self) -> Result<Vec<Held>, DbErr> {
        let mut held = Vec::new();
        if let Self::Own(pool) = self {
            for _ in 0..pool.status().available {
                held.push(pool.get().await.map_err(acquire_err)?);
            }
        }
        Ok(held)
    }
}

/// A read connection taken out of its pool.
pub(in crate::db) type Held = deadpool::managed::Object<ReadConnections>;

impl ReadConnection {
    pub(in crate::db) fn connection(&mut self) -> &mut sqlx::PgConnection {
        &mut self.conn
    }
}

/// The main database's connections for tenant reads. sqlx's pool pings every connection
/// it takes back (a round trip, waking the server, after every read); these are taken
/// back as they are, and pinged on their next checkout only when the last read on them
/// did not run to its end (cancelled or failed, so results may be left unread: the ping
/// reads past them) or they sat idle for a second (a restarted database or a proxy's cut
/// is found before a request meets it). Nothing else can be left on one: every statement
/// it runs is one implicit transaction, over when the server answers.
pub(in crate::db) struct ReadConnections {
    options: std::sync::Arc<sqlx::postgres::PgConnectOptions>,
}

/// A read connection, and whether its last read ran to its end.
pub(in crate::db) struct ReadConnection {
    conn: sqlx::PgConnection,
    settled: bool,
}

impl deadpool::managed::Manager for ReadConnections {
    type Type = ReadConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<ReadConnection, sqlx::Error> {
        use sqlx::Connection;
        Ok(ReadConnection {
            conn: sqlx::PgConnection::connect_with(&self.options).await?,
            settled: true,
        })
    }

    async fn recycle(
        &self,
        conn: &mut ReadConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<sqlx::Error> {
        use sqlx::Connection;
        if !conn.settled || metrics.last_used() >= std::time::Duration::from_secs(1) {
            conn.conn
                .ping()
                .await
                .map_err(deadpool::managed::RecycleError::Backend)?;
            conn.settled = true;
        }
        Ok(())
    }
}

/// The rows of each statement of a multi-statement message.
async fn collect<'e>(
    mut stream: futures::stream::BoxStream<
        'e,
        Result<sqlx::Either<sqlx::postgres::PgQueryResult, sqlx::postgres::PgRow>, sqlx::Error>,
    >,
) -> Result<Vec<Vec<QueryResult>>, DbErr> {
    let mut ended = Vec::new();
    let mut rows = Vec::new();
    while let Some(item) = stream.try_next().await.map_err(query_err)? {
        match item {
            // The end of a statement's results.
            sqlx::Either::Left(_) => ended.push(std::mem::take(&mut rows)),
            sqlx::Either::Right(row) => rows.push(row.into()),
        }
    }
    Ok(ended)
}

/// A PostgreSQL tenant read whose statements each carry the tenant binding.
pub(in crate::db) struct EachStatement {
    /// Statements whose values can be literals run on these.
    reads: Reads,
    /// The others run in a transaction of their own on the same pool.
    conn: DatabaseConnection,
    tenant: TenantId,
    /// `SELECT set_config(…tenant…, true), set_config('transaction_read_only', 'on', true)`
    binding: String,
}

impl EachStatement {
    /// Reads of `tenant` on `conn`; with `schema`, in that schema first (the SCHEMA tier's
    /// transaction-local search path). A schema name must be a plain identifier
    /// (`tenant_<hex>`), so it needs no quoting.
    pub(super) fn new(
        reads: Reads,
        conn: &DatabaseConnection,
        tenant: TenantId,
        schema: Option<&str>,
    ) -> Result<Self, DbErr> {
        let search_path = match schema {
            Some(name)
                if name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                format!(", set_config('search_path', '{name}, public', true)")
            }
            Some(name) => {
                return Err(DbErr::Custom(format!(
                    "{name:?} is not a tenant schema name"
                )));
            }
            None => String::new(),
        };
        // A UUID's text form is hex digits and hyphens: nothing to escape.
        let binding = format!(
            "SELECT set_config('app.tenant_id', '{}', true), \
                    set_config('transaction_read_only', 'on', true){search_path}",
            tenant.into_uuid()
        );
        Ok(Self {
            reads,
            conn: conn.clone(),
            tenant,
            binding,
        })
    }

    /// The binding and `statements` as one message, when every value of every statement
    /// can be a literal.
    fn message(&self, statements: &[&Statement]) -> Option<String> {
        let mut sql = self.binding.clone();
        for stmt in statements {
            let values = stmt.values.as_ref().map(|v| v.0.as_slice()).unwrap_or(&[]);
            if !values.iter().all(inert) {
                return None;
            }
            sql.push_str(";\n");
            if values.is_empty() {
                sql.push_str(&stmt.sql);
            } else {
                sql.push_str(&sea_orm::sea_query::inject_parameters(
                    &stmt.sql,
                    values,
                    &PostgresQueryBuilder,
                ));
            }
        }
        Some(sql)
    }

    /// The rows of each statement after the binding, in one round trip.
    async fn results(&self, sql: String) -> Result<Vec<Vec<QueryResult>>, DbErr> {
        let mut ended = self.reads.fetch(sql).await?;
        // The binding's result came first.
        if !ended.is_empty() {
            ended.remove(0);
        }
        Ok(ended)
    }

    /// `stmt` in an explicit read-only transaction bound to the tenant, its values bound
    /// as parameters.
    async fn in_transaction(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let tx = self.conn.begin().await?;
        tx.execute_unprepared(&self.binding).await?;
        let rows = tx.query_all_raw(stmt).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// Two reads of one unit of work, in one round trip where it can (a page and its count):
/// one after the other on a transaction or a connection.
#[async_trait::async_trait]
pub(in crate::db) trait TwoReads: ConnectionTrait {
    async fn two_reads(
        &self,
        first: Statement,
        second: Statement,
    ) -> Result<(Vec<QueryResult>, Vec<QueryResult>), DbErr> {
        in_turn(self, first, second).await
    }
}

/// Two reads, one after the other.
async fn in_turn(
    conn: &(impl ConnectionTrait + ?Sized),
    first: Statement,
    second: Statement,
) -> Result<(Vec<QueryResult>, Vec<QueryResult>), DbErr> {
    let first = conn.query_all_raw(first).await?;
    Ok((first, conn.query_all_raw(second).await?))
}

impl TwoReads for DatabaseConnection {}

#[async_trait::async_trait]
impl TwoReads for Unit {
    async fn two_reads(
        &self,
        first: Statement,
        second: Statement,
    ) -> Result<(Vec<QueryResult>, Vec<QueryResult>), DbErr> {
        if let Self::EachStatement(each) = self
            && let Some(sql) = each.message(&[&first, &second])
        {
            // One message: the binding, then both reads, in one implicit transaction.
            let mut results = each.results(sql).await?;
            let second = results.pop().unwrap_or_default();
            let first = results.pop().unwrap_or_default();
            return Ok((first, second));
        }
        in_turn(self, first, second).await
    }
}

/// Whether a value's PostgreSQL literal (as sea-query writes it) is inert: it cannot end
/// the literal early, whatever the value holds.
fn inert(value: &Value) -> bool {
    matches!(
        value,
        Value::Bool(_)
            | Value::TinyInt(_)
            | Value::SmallInt(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::TinyUnsigned(_)
            | Value::SmallUnsigned(_)
            | Value::Unsigned(_)
            | Value::BigUnsigned(_)
            | Value::String(_)
            | Value::Char(_)
            | Value::Uuid(_)
            | Value::ChronoDate(_)
            | Value::ChronoTime(_)
            | Value::ChronoDateTime(_)
            | Value::ChronoDateTimeUtc(_)
            | Value::ChronoDateTimeLocal(_)
            | Value::ChronoDateTimeWithTimeZone(_)
    )
}

/// A read writes nothing, and takes no lock that would have to last past its statement
/// (an advisory lock, `FOR UPDATE`): such a unit of work is a writing one.
fn executes_nothing() -> DbErr {
    DbErr::Custom("a tenant read executes no statements: open a writing unit of work".into())
}

/// As sea-orm reports sqlx's pool: a wait too long is a timeout.
fn acquire_err(e: deadpool::managed::PoolError<sqlx::Error>) -> DbErr {
    use deadpool::managed::PoolError;
    match e {
        PoolError::Backend(e) => conn_err(e),
        PoolError::Timeout(_) => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        PoolError::Closed => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed),
        other => DbErr::Custom(format!("a read connection: {other}")),
    }
}

fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(e.into()))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(e.into()))
}

#[async_trait::async_trait]
impl ConnectionTrait for Unit {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::Tx(tx) => ConnectionTrait::get_database_backend(tx),
            Self::EachStatement(_) => DbBackend::Postgres,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Tx(tx) => tx.execute_raw(stmt).await,
            Self::EachStatement(_) => Err(executes_nothing()),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Tx(tx) => tx.execute_unprepared(sql).await,
            Self::EachStatement(_) => Err(executes_nothing()),
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Tx(tx) => tx.query_one_raw(stmt).await,
            Self::EachStatement(_) => Ok(self.query_all_raw(stmt).await?.into_iter().next()),
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Tx(tx) => tx.query_all_raw(stmt).await,
            Self::EachStatement(each) => match each.message(&[&stmt]) {
                Some(sql) => Ok(each.results(sql).await?.pop().unwrap_or_default()),
                None => each.in_transaction(stmt).await,
            },
        }
    }
}

impl StreamTrait for Unit {
    type Stream<'a> = futures::stream::BoxStream<'a, Result<QueryResult, DbErr>>;

    fn get_database_backend(&self) -> DbBackend {
        ConnectionTrait::get_database_backend(self)
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            match self {
                Self::Tx(tx) => Ok(tx.stream_raw(stmt).await?.boxed()),
                // A tenant read is a page, not an export: its rows are collected.
                Self::EachStatement(_) => {
                    let rows = self.query_all_raw(stmt).await?;
                    Ok(futures::stream::iter(rows.into_iter().map(Ok)).boxed())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backend's pid and tenant binding of the connection a read runs on.
    async fn backend_of(reads: &Reads) -> (String, String) {
        let rows = reads
            .fetch(
                "SELECT pg_backend_pid()::text AS pid, \
                 coalesce(current_setting('app.tenant_id', true), '') AS tenant"
                    .into(),
            )
            .await
            .unwrap();
        let row = &rows[0][0];
        (
            row.try_get("", "pid").unwrap(),
            row.try_get("", "tenant").unwrap(),
        )
    }

    /// A read connection is taken back without a ping, so one whose read was cut off
    /// while the server was still answering (the request went away) must not hand the
    /// rest of that answer, or its tenant, to the next read on it.
    #[tokio::test]
    async fn a_read_cut_off_midway_leaves_nothing_for_the_next_read_on_its_connection() {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("skipped: a PostgreSQL read (set TEST_DATABASE_URL)");
            return;
        };
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(1).sqlx_logging(false);
        let conn = sea_orm::Database::connect(options).await.unwrap();
        let reads = Reads::like(conn.get_postgres_connection_pool()).unwrap();
        let (pid, tenant) = backend_of(&reads).await;
        assert_eq!(tenant, "", "a fresh connection carries no tenant");

        let each = Unit::EachStatement(
            EachStatement::new(
                reads.clone(),
                &conn,
                TenantId::from_uuid(uuid::Uuid::now_v7()),
                None,
            )
            .unwrap(),
        );
        let slow = Statement::from_string(
            DbBackend::Postgres,
            "WITH pause AS MATERIALIZED (SELECT pg_sleep(0.3)) \
             SELECT current_setting('app.tenant_id') AS tenant, g FROM pause, generate_series(1, 500) g",
        );
        let cut = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            each.query_all_raw(slow),
        )
        .await;
        assert!(cut.is_err(), "the slow read was cut off");

        // The pool's only connection, again: its next read answers itself, unbound.
        assert_eq!(
            backend_of(&reads).await,
            (pid.clone(), String::new()),
            "the next read on the same connection saw the cut-off read's rows or tenant"
        );
        // And a settled connection is reused as it is.
        assert_eq!(backend_of(&reads).await, (pid, String::new()));
    }
}
