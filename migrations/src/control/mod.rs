//! The control-plane migrations: always applied to the main database, recorded in
//! `seaql_migrations`.

use super::*;

pub(crate) mod m20261122_000001_create_tenants;
pub(crate) mod m20261122_000002_create_users;
pub(crate) mod m20261122_000003_create_stores;
pub(crate) mod m20261122_000004_create_memberships;
pub(crate) mod m20261122_000005_create_outbox;
pub(crate) mod m20261122_000006_create_roles;
pub(crate) mod m20261122_000007_create_sessions;
pub(crate) mod m20261122_000008_create_user_tokens;
pub(crate) mod m20261122_000009_create_invitations;
pub(crate) mod m20261122_000010_create_api_keys;
pub(crate) mod m20261122_000011_create_audit_log;
pub(crate) mod m20261122_000012_create_tenant_modules;
pub(crate) mod m20261122_000013_enable_row_level_security;
pub(crate) mod m20261201_000014_enforce_isolation_in_the_database;
pub(crate) mod m20261201_000015_create_login_throttle;
pub(crate) mod m20261201_000016_create_job_ledger;
pub(crate) mod m20261201_000017_create_plans_and_subscriptions;
pub(crate) mod m20261201_000018_create_test_clock;
pub(crate) mod m20261201_000019_create_invoices;
pub(crate) mod m20261201_000020_add_billing_lifecycle;
pub(crate) mod m20261201_000021_create_payments;
pub(crate) mod m20261201_000022_add_tenant_tax_rate;
pub(crate) mod m20261201_000023_create_usage;
pub(crate) mod m20261202_000024_create_notifications;
pub(crate) mod m20261202_000025_create_webhooks;
pub(crate) mod m20261202_000026_create_notification_preferences;
pub(crate) mod m20261203_000027_add_payment_review_alerts;
pub(crate) mod m20261203_000028_create_tenant_moves;
pub(crate) mod m20261203_000029_add_tenant_databases;
pub(crate) mod m20261203_000030_add_data_rights;
pub(crate) mod m20261203_000031_add_plan_tiers;

/// The control plane's migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tenants::Migration),
            Box::new(m20261122_000002_create_users::Migration),
            Box::new(m20261122_000003_create_stores::Migration),
            Box::new(m20261122_000004_create_memberships::Migration),
            Box::new(m20261122_000005_create_outbox::Migration),
            Box::new(m20261122_000006_create_roles::Migration),
            Box::new(m20261122_000007_create_sessions::Migration),
            Box::new(m20261122_000008_create_user_tokens::Migration),
            Box::new(m20261122_000009_create_invitations::Migration),
            Box::new(m20261122_000010_create_api_keys::Migration),
            Box::new(m20261122_000011_create_audit_log::Migration),
            Box::new(m20261122_000012_create_tenant_modules::Migration),
            Box::new(m20261122_000013_enable_row_level_security::Migration),
            Box::new(m20261201_000014_enforce_isolation_in_the_database::Migration),
            Box::new(m20261201_000015_create_login_throttle::Migration),
            Box::new(m20261201_000016_create_job_ledger::Migration),
            Box::new(m20261201_000017_create_plans_and_subscriptions::Migration),
            Box::new(m20261201_000018_create_test_clock::Migration),
            Box::new(m20261201_000019_create_invoices::Migration),
            Box::new(m20261201_000020_add_billing_lifecycle::Migration),
            Box::new(m20261201_000021_create_payments::Migration),
            Box::new(m20261201_000022_add_tenant_tax_rate::Migration),
            Box::new(m20261201_000023_create_usage::Migration),
            Box::new(m20261202_000024_create_notifications::Migration),
            Box::new(m20261202_000025_create_webhooks::Migration),
            Box::new(m20261202_000026_create_notification_preferences::Migration),
            Box::new(m20261203_000027_add_payment_review_alerts::Migration),
            Box::new(m20261203_000028_create_tenant_moves::Migration),
            Box::new(m20261203_000029_add_tenant_databases::Migration),
            Box::new(m20261203_000030_add_data_rights::Migration),
            Box::new(m20261203_000031_add_plan_tiers::Migration),
        ]
    }
}
