//! sea-orm entities, private to the repository layer: nothing outside `crate::db` can name
//! a table. Written to match the migrations; never used to create the schema.

pub(super) mod api_keys;
pub(super) mod audit_heads;
pub(super) mod audit_log;
pub(super) mod invitations;
pub(super) mod invoice_counters;
pub(super) mod invoice_lines;
pub(super) mod invoices;
pub(super) mod job_dead_letters;
pub(super) mod job_effects;
pub(super) mod member_profiles;
pub(super) mod memberships;
pub(super) mod metrics;
pub(super) mod mpesa_callbacks;
pub(super) mod mpesa_tokens;
pub(super) mod notification_preferences;
pub(super) mod notifications;
pub(super) mod outbox;
pub(super) mod payments;
pub(super) mod plans;
pub(super) mod products;
pub(super) mod refresh_tokens;
pub(super) mod role_assignments;
pub(super) mod role_permissions;
pub(super) mod roles;
pub(super) mod sessions;
pub(super) mod stock_levels;
pub(super) mod stock_movements;
pub(super) mod stores;
pub(super) mod subscriptions;
pub(super) mod tenant_exports;
pub(super) mod tenant_job_effects;
pub(super) mod tenant_modules;
pub(super) mod tenant_moves;
pub(super) mod tenants;
pub(super) mod test_clock;
pub(super) mod usage_alerts;
pub(super) mod usage_events;
pub(super) mod usage_rollups;
pub(super) mod user_tokens;
pub(super) mod users;
pub(super) mod webhook_deliveries;
pub(super) mod webhook_endpoints;

use super::scope::{DataOwned, Global, Public, TenantOwned};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ColumnTrait, Condition};

/// Tables whose rows carry the tenant in `tenant_id`.
macro_rules! tenant_owned {
    ($($table:ident),* $(,)?) => {$(
        impl TenantOwned for $table::Entity {
            fn tenant_column() -> Option<$table::Column> {
                Some($table::Column::TenantId)
            }
        }
    )*};
}

tenant_owned!(
    api_keys,
    audit_log,
    invitations,
    invoice_counters,
    invoice_lines,
    invoices,
    memberships,
    outbox,
    payments,
    role_assignments,
    role_permissions,
    roles,
    subscriptions,
    tenant_exports,
    tenant_job_effects,
    tenant_modules,
    usage_alerts,
    usage_events,
    usage_rollups,
    notifications,
    notification_preferences,
    webhook_endpoints,
    webhook_deliveries,
);

impl TenantOwned for stores::Entity {
    fn tenant_column() -> Option<stores::Column> {
        Some(stores::Column::TenantId)
    }
    /// A store is its own store: a request narrowed to one sees that one only.
    fn store_column() -> Option<stores::Column> {
        Some(stores::Column::Id)
    }
}

/// A tenant scope sees its own tenant's row.
impl TenantOwned for tenants::Entity {
    fn tenant_column() -> Option<tenants::Column> {
        None
    }
    fn of_tenant(tenant: uuid::Uuid) -> Condition {
        Condition::all().add(tenants::Column::Id.eq(tenant))
    }
}

/// A tenant scope sees the profiles of its members only.
impl TenantOwned for member_profiles::Entity {
    fn tenant_column() -> Option<member_profiles::Column> {
        None
    }
    fn of_tenant(tenant: uuid::Uuid) -> Condition {
        Condition::all().add(
            member_profiles::Column::Id.in_subquery(
                Query::select()
                    .column(memberships::Column::UserId)
                    .from(memberships::Entity)
                    .and_where(Expr::col(memberships::Column::TenantId).eq(tenant))
                    .to_owned(),
            ),
        )
    }
}

impl Global for users::Entity {}
impl Global for sessions::Entity {}
impl Global for refresh_tokens::Entity {}
impl Global for user_tokens::Entity {}
/// The tenant directory: found by slug or id before any tenant is known.
impl Global for tenants::Entity {}
/// The plan catalogue: public.
impl Global for plans::Entity {}
impl Public for plans::Entity {}
/// The metric catalogue: public.
impl Global for metrics::Entity {}
impl Public for metrics::Entity {}

/// The inventory module's tables: the data plane, reached from a data scope only.
impl DataOwned for products::Entity {
    fn tenant_column() -> products::Column {
        products::Column::TenantId
    }
}

/// Stock is kept per store: a request narrowed to one sees that store's.
impl DataOwned for stock_levels::Entity {
    fn tenant_column() -> stock_levels::Column {
        stock_levels::Column::TenantId
    }
    fn store_column() -> Option<stock_levels::Column> {
        Some(stock_levels::Column::StoreId)
    }
}

impl DataOwned for stock_movements::Entity {
    fn tenant_column() -> stock_movements::Column {
        stock_movements::Column::TenantId
    }
    fn store_column() -> Option<stock_movements::Column> {
        Some(stock_movements::Column::StoreId)
    }
}
