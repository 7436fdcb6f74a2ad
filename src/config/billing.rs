//! Billing settings.

use super::ConfigError;
use super::vars::{Vars, invalid};

/// The billing settings.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// `BILLING_DEFAULT_PLAN` (default `starter`): the plan a new tenant's subscription
    /// starts on (in its trial, when the plan has one).
    pub default_plan: String,
    /// `BILLING_TAX_RATE` (percent, default 16: Kenyan VAT; 0 allowed), in basis points.
    pub tax_rate_bp: i32,
    /// `BILLING_DUE_DAYS` (default 7): days from an invoice's issue to its due date.
    pub due_days: u32,
    /// `BILLING_GRACE_DAYS` (default 7): days PAST_DUE before SUSPENDED, unless the plan
    /// says otherwise.
    pub grace_days: u32,
    /// `BILLING_DUNNING_DAYS` (default `0,1,3,5`): days after an invoice's due date on
    /// which its owner is reminded (the first one also marks the subscription PAST_DUE).
    pub dunning_days: Vec<u32>,
    /// `BILLING_CANCEL_AFTER_DAYS` (default 30): days SUSPENDED before CANCELED.
    pub cancel_after_days: u32,
    /// `USAGE_LATE_GRACE_MINUTES` (default 60): how late a usage event from before the open
    /// billing period may arrive and still count (in the open period).
    pub usage_late_grace_minutes: u32,
    /// `USAGE_RETENTION_DAYS` (default 90): how long raw usage events are kept (rollups
    /// stay as long as invoices).
    pub usage_retention_days: u32,
    /// `USAGE_FLUSH_SECONDS` (default 10, 1 to 3,600): how often a node records the
    /// `api_calls` it counted (a node killed outright loses at most that much).
    pub usage_flush_seconds: u32,
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
        let tax_rate_bp = match vars.get("BILLING_TAX_RATE") {
            None => 1600,
            Some(text) => crate::billing::money::parse_percent(&text).ok_or_else(|| {
                invalid(
                    "BILLING_TAX_RATE",
                    format!("a percentage from 0 to 100 with at most two decimals, got {text:?}"),
                )
            })?,
        };
        let days = |name: &'static str, default: usize| -> Result<u32, ConfigError> {
            let value = vars.number(name, default, 0)?;
            Ok(u32::try_from(value.min(365)).unwrap_or(365))
        };
        let dunning_days = match vars.get("BILLING_DUNNING_DAYS") {
            None => vec![0, 1, 3, 5],
            Some(text) => parse_days(&text).ok_or_else(|| {
                invalid(
                    "BILLING_DUNNING_DAYS",
                    format!("rising whole days after the due date, e.g. 0,1,3,5; got {text:?}"),
                )
            })?,
        };
        Ok(Self {
            default_plan,
            tax_rate_bp,
            due_days: days("BILLING_DUE_DAYS", 7)?,
            grace_days: days("BILLING_GRACE_DAYS", 7)?,
            dunning_days,
            cancel_after_days: days("BILLING_CANCEL_AFTER_DAYS", 30)?,
            usage_late_grace_minutes: u32::try_from(
                vars.number("USAGE_LATE_GRACE_MINUTES", 60, 0)?.min(10_080),
            )
            .unwrap_or(10_080),
            usage_retention_days: days("USAGE_RETENTION_DAYS", 90)?.max(1),
            usage_flush_seconds: u32::try_from(
                vars.number("USAGE_FLUSH_SECONDS", 10, 1)?.min(3600),
            )
            .unwrap_or(3600),
        })
    }
}

/// `"0,1,3,5"`: at least one day, rising, each at most 365.
fn parse_days(text: &str) -> Option<Vec<u32>> {
    let days: Vec<u32> = text
        .split(',')
        .map(|d| d.trim().parse().ok().filter(|d| *d <= 365))
        .collect::<Option<_>>()?;
    (!days.is_empty() && days.windows(2).all(|w| w[0] < w[1])).then_some(days)
}
