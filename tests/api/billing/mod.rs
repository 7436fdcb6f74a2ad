//! Billing: plans, subscriptions, entitlements and limits.

mod clock;
mod plans;
pub mod renewals;
