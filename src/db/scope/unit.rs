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

/// A PostgreSQL tenant read whose statements each carry the tenant binding.
pub(in crate::db) struct EachStatement {
    /// Statements whose values can be literals go straight to the pool.
    pool: sqlx::PgPool,
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
            pool: conn.get_postgres_connection_pool().clone(),
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
        let mut stream = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_many(&self.pool);
        let mut ended = Vec::new();
        let mut rows = Vec::new();
        while let Some(item) = stream.try_next().await.map_err(query_err)? {
            match item {
                // The end of a statement's results.
                sqlx::Either::Left(_) => ended.push(std::mem::take(&mut rows)),
                sqlx::Either::Right(row) => rows.push(row.into()),
            }
        }
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
