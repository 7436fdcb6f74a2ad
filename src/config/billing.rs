//! Billing settings.

use super::ConfigError;
use super::vars::{Vars, invalid};

/// The billing settings.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// `BILLING_DEFAULT_PLAN` (default `starter`): the plan a new tenant's subscription
    /// starts on (in its trial, when the plan has one).
    pub default_plan: String,
}

impl BillingConfig {
    pub(super) fn parse(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let default_plan = vars
            .get("BILLING_DEFAULT_PLAN")
            .unwrap_or_else(|| "starter".into());
        if default_plan.is_empty()
            || !default_plan
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "BILLING_DEFAULT_PLAN",
                "a plan code: lower-case letters, digits, '-' and '_'",
            ));
        }
        Ok(Self { default_plan })
    }
}
