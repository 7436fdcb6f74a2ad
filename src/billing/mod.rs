//! Billing: plans, subscriptions and what a plan entitles a tenant to (its modules and
//! limits, carried in the tenant context). Invoices, renewals and dunning build on these.

pub mod changes;
pub mod clock;
pub mod dunning;
pub mod invoices;
pub mod lifecycle;
pub mod mail;
pub mod money;
pub mod phone;
pub mod plans;
pub mod renewals;
pub mod subscriptions;

pub use money::Money;
pub use plans::{Interval, Limits, MeteredPrice, NewPlan, Plan};
pub use subscriptions::{Subscription, SubscriptionStatus};

/// The currency of a tenant's credit until tenants bill in other currencies.
pub const DEFAULT_CURRENCY: &str = "KES";

/// Modules every plan includes: an owner can always see and pay what is owed.
pub const ALWAYS_INCLUDED: &[&str] = &[crate::tenancy::CORE, "billing"];

/// Queues everything of billing that fell due: period ends, then dunning steps, grace
/// expiries and cancellations. Returns how many jobs it queued. Safe on every node at once.
pub async fn sweep(
    db: &crate::db::Db,
    billing: &crate::config::BillingConfig,
) -> crate::error::AppResult<usize> {
    Ok(renewals::sweep(db).await? + dunning::sweep(db, billing).await?)
}
