//! Billing: plans, subscriptions, entitlements and limits, renewals, the lifecycle and
//! what owners change.

mod changes;
mod clock;
mod plans;
pub mod renewals;
