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
            Some(text) => parse_percent(&text).ok_or_else(|| {
                invalid(
                    "BILLING_TAX_RATE",
                    format!("a percentage from 0 to 100 with at most two decimals, got {text:?}"),
                )
            })?,
        };
        let due_days = vars.number("BILLING_DUE_DAYS", 7, 0)?;
        Ok(Self {
            default_plan,
            tax_rate_bp,
            due_days: u32::try_from(due_days.min(365)).unwrap_or(365),
        })
    }
}

/// `"16"` or `"16.5"` percent as basis points (1600, 1650).
fn parse_percent(text: &str) -> Option<i32> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || fraction.len() > 2 {
        return None;
    }
    let whole: i32 = whole.parse().ok()?;
    let fraction: i32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<2}").parse().ok()?
    };
    let bp = whole.checked_mul(100)?.checked_add(fraction)?;
    (0..=10_000).contains(&bp).then_some(bp)
}
