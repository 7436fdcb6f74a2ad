//! Billing: plans, subscriptions, entitlements and limits.

mod plans;
