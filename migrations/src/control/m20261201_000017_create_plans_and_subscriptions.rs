//! Billing's first tables:
//! - `plans` (platform, readable by anyone through the API): versioned by `(code, version)`;
//!   a price change makes a new version and subscriptions keep theirs until renewal. The
//!   four default plans are seeded here.
//! - `subscriptions` (a tenant table): one per tenant, on one plan version.
//! - `tenant_modules.enabled`: a platform override may now also switch a plan's module
//!   off (a row with `enabled = false`); before plans every row meant on.
//! - `tenants.billing_phone`, `tenants.credit_minor`: the M-Pesa number renewals prompt,
//!   and the credit applied to the next invoices (minor units of the plan's currency).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement, Value};

use crate::{create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A seeded plan: code, name, description, price (minor units), trial days, rank, modules
/// (JSON), limits (JSON).
type Seed = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    i32,
    i32,
    &'static str,
    &'static str,
);

const DEFAULT_PLANS: &[Seed] = &[
    (
        "free",
        "Free",
        "One store, two people",
        0,
        0,
        0,
        r#"["core","billing"]"#,
        r#"{"stores":1,"members":2}"#,
    ),
    (
        "starter",
        "Starter",
        "A growing shop: three stores, five people, inventory",
        150_000,
        14,
        1,
        r#"["core","billing","inventory"]"#,
        r#"{"stores":3,"members":5}"#,
    ),
    (
        "pro",
        "Pro",
        "Ten stores, twenty-five people, inventory and usage metering",
        500_000,
        0,
        2,
        r#"["core","billing","inventory","metering"]"#,
        r#"{"stores":10,"members":25}"#,
    ),
    (
        "enterprise",
        "Enterprise",
        "No limits",
        2_000_000,
        0,
        3,
        r#"["core","billing","inventory","metering"]"#,
        r#"{}"#,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("plans"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("code")).string_len(40).not_null())
                    .col(ColumnDef::new(Alias::new("version")).integer().not_null())
                    .col(
                        ColumnDef::new(Alias::new("name"))
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("description"))
                            .string_len(500)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("price_minor"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("currency"))
                            .string_len(3)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("interval"))
                            .string_len(5)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("trial_days"))
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("rank")).integer().not_null())
                    .col(
                        ColumnDef::new(Alias::new("modules"))
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("limits"))
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("metered_prices"))
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("active")).boolean().not_null())
                    .col(timestamp(Alias::new("created_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plans_code_version")
                    .table(Alias::new("plans"))
                    .col(Alias::new("code"))
                    .col(Alias::new("version"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let now = chrono::Utc::now();
        for (code, name, description, price, trial, rank, modules, limits) in DEFAULT_PLANS {
            let json = |text: &str| -> Value {
                let value: serde_json::Value = serde_json::from_str(text).expect("seed JSON");
                value.into()
            };
            let values: Vec<Value> = vec![
                uuid::Uuid::new_v4().into(),
                (*code).into(),
                (*name).into(),
                (*description).into(),
                (*price).into(),
                (*trial).into(),
                (*rank).into(),
                json(modules),
                json(limits),
                json("[]"),
                now.into(),
            ];
            let sql = if postgres {
                "INSERT INTO plans (id, code, version, name, description, price_minor, currency, \
                 interval, trial_days, rank, modules, limits, metered_prices, active, created_at) \
                 VALUES ($1, $2, 1, $3, $4, $5, 'KES', 'MONTH', $6, $7, $8, $9, $10, true, $11)"
            } else {
                "INSERT INTO plans (id, code, version, name, description, price_minor, currency, \
                 interval, trial_days, rank, modules, limits, metered_prices, active, created_at) \
                 VALUES (?, ?, 1, ?, ?, ?, 'KES', 'MONTH', ?, ?, ?, ?, ?, true, ?)"
            };
            db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
        }

        create_tenant_table(
            manager,
            "subscriptions",
            &["id"],
            vec![
                ColumnDef::new(Alias::new("id"))
                    .uuid()
                    .not_null()
                    .to_owned(),
                ColumnDef::new(Alias::new("plan_id"))
                    .uuid()
                    .not_null()
                    .to_owned(),
                ColumnDef::new(Alias::new("status"))
                    .string_len(12)
                    .not_null()
                    .to_owned(),
                timestamp(Alias::new("current_period_start")),
                timestamp(Alias::new("current_period_end")),
                ColumnDef::new(Alias::new("trial_end"))
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                ColumnDef::new(Alias::new("cancel_at_period_end"))
                    .boolean()
                    .not_null()
                    .to_owned(),
                ColumnDef::new(Alias::new("canceled_at"))
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                ColumnDef::new(Alias::new("grace_until"))
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                timestamp(Alias::new("created_at")),
                timestamp(Alias::new("updated_at")),
            ],
        )
        .await?;
        // One subscription per tenant.
        manager
            .create_index(
                Index::create()
                    .name("subscriptions_one_per_tenant")
                    .table(Alias::new("subscriptions"))
                    .col(Alias::new("tenant_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenant_modules"))
                    .add_column(
                        ColumnDef::new(Alias::new("enabled"))
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenants"))
                    .add_column(
                        ColumnDef::new(Alias::new("billing_phone"))
                            .string_len(15)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenants"))
                    .add_column(
                        ColumnDef::new(Alias::new("credit_minor"))
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS subscriptions")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS plans").await?;
        for (table, column) in [
            ("tenant_modules", "enabled"),
            ("tenants", "billing_phone"),
            ("tenants", "credit_minor"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
