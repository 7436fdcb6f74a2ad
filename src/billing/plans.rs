//! Plans: what a tenant subscribes to. Versioned: creating a plan whose code exists makes a
//! new version (the old one stops being offered; subscriptions keep theirs until renewal).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::money::{Money, parse_amount, parse_currency};
use crate::error::AppError;

/// How often a plan bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interval {
    /// Monthly.
    #[default]
    Month,
    /// Yearly.
    Year,
}

impl Interval {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "MONTH",
            Self::Year => "YEAR",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        if value == "YEAR" {
            Self::Year
        } else {
            Self::Month
        }
    }

    /// The end of the period that starts at `start`: the same day of the next month (or
    /// year), the last day of a shorter month.
    pub fn period_end(self, start: DateTime<Utc>) -> DateTime<Utc> {
        let months = match self {
            Self::Month => 1,
            Self::Year => 12,
        };
        start
            .checked_add_months(chrono::Months::new(months))
            .unwrap_or(start)
    }
}

/// A plan's limits by name (`stores`, `members`, a metric); an absent name is unlimited.
pub type Limits = BTreeMap<String, i64>;

/// A price per unit of a metric above what the plan includes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeteredPrice {
    /// The metric's code.
    pub metric: String,
    /// Price per unit above `included_units`, in minor units of the plan's currency.
    pub unit_price_minor: i64,
    /// Units included in the plan's price.
    pub included_units: i64,
}

/// A plan version.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Id (of this version).
    pub id: uuid::Uuid,
    /// Stable code (`starter`).
    pub code: String,
    /// Version, from 1.
    pub version: i32,
    /// Display name.
    pub name: String,
    /// What it offers.
    pub description: Option<String>,
    /// Price per interval.
    pub price: Money,
    /// Billing interval.
    pub interval: Interval,
    /// Free days before the first invoice.
    pub trial_days: i32,
    /// Order among plans: a higher rank is an upgrade.
    pub rank: i32,
    /// Modules it enables (always with `core` and `billing`).
    pub modules: BTreeSet<String>,
    /// Its limits.
    pub limits: Limits,
    /// The limits of metrics that are soft quotas: usage past them is accepted (and the
    /// owner told); the others refuse it.
    pub soft_limits: BTreeSet<String>,
    /// Prices of metered usage.
    pub metered_prices: Vec<MeteredPrice>,
    /// Days PAST_DUE before SUSPENDED (`None`: `BILLING_GRACE_DAYS`).
    pub grace_days: Option<i32>,
    /// Tax rate in basis points (`None`: `BILLING_TAX_RATE`).
    pub tax_rate_bp: Option<i32>,
    /// Offered to new subscriptions.
    pub active: bool,
    /// When this version was made.
    pub created_at: DateTime<Utc>,
    /// The isolation tier its tenants are put on (SHARED or SCHEMA); on SQLite every
    /// tenant stays SHARED.
    pub isolation: crate::tenancy::IsolationTier,
}

/// A validated new plan (or new version of one).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlan {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Price in minor units.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Interval.
    pub interval: Interval,
    /// Trial days.
    pub trial_days: i32,
    /// Rank (`None`: after every existing plan, or the replaced version's).
    pub rank: Option<i32>,
    /// Modules (with `core` and `billing` added).
    pub modules: BTreeSet<String>,
    /// Limits.
    pub limits: Limits,
    /// Which limits are soft quotas.
    pub soft_limits: BTreeSet<String>,
    /// Metered prices.
    pub metered_prices: Vec<MeteredPrice>,
    /// Grace days (`None`: the deployment's).
    pub grace_days: Option<i32>,
    /// Tax rate in basis points (`None`: the deployment's).
    pub tax_rate_bp: Option<i32>,
    /// The isolation tier it puts tenants on (`None`: the replaced version's, else SHARED).
    pub isolation: Option<crate::tenancy::IsolationTier>,
}

/// What `createPlan` was given, before validation.
#[derive(Debug, Clone, Default)]
pub struct PlanInput {
    /// `input.code`.
    pub code: String,
    /// `input.name`.
    pub name: String,
    /// `input.description`.
    pub description: Option<String>,
    /// `input.price`, a decimal string.
    pub price: String,
    /// `input.currency` (KES when absent).
    pub currency: Option<String>,
    /// `input.interval`.
    pub interval: Interval,
    /// `input.trialDays`.
    pub trial_days: Option<i32>,
    /// `input.rank`.
    pub rank: Option<i32>,
    /// `input.modules`.
    pub modules: Vec<String>,
    /// `input.limits`, a JSON object.
    pub limits: Option<serde_json::Value>,
    /// `input.meteredPrices`: (metric, unit price decimal, included units).
    pub metered_prices: Vec<(String, String, i32)>,
    /// `input.graceDays`.
    pub grace_days: Option<i32>,
    /// `input.taxRate`, a percentage (`"16"`).
    pub tax_rate: Option<String>,
    /// `input.isolation`.
    pub isolation: Option<crate::tenancy::IsolationTier>,
}

fn is_code(text: &str) -> bool {
    (2..=40).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && text.as_bytes()[0].is_ascii_lowercase()
}

/// Parses a limits object: names of lower-case letters, digits and `_`; each a whole
/// number ≥ 0 (a hard limit) or `{"max": n, "soft": true}` (a soft quota of a metric).
/// Returns the limits and the names of the soft ones.
pub fn parse_limits(
    value: &serde_json::Value,
    field: &'static str,
) -> Result<(Limits, BTreeSet<String>), AppError> {
    let Some(object) = value.as_object() else {
        return Err(AppError::bad_input(field, "must be a JSON object"));
    };
    let mut limits = Limits::new();
    let mut soft = BTreeSet::new();
    for (name, max) in object {
        if !(1..=40).contains(&name.len())
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(AppError::bad_input(
                field,
                format!("{name:?} is not a limit name (lower-case letters, digits, _)"),
            ));
        }
        let (max, is_soft) = match max {
            serde_json::Value::Object(quota) => (
                quota.get("max").and_then(serde_json::Value::as_i64),
                quota.get("soft").and_then(serde_json::Value::as_bool) == Some(true),
            ),
            other => (other.as_i64(), false),
        };
        match max {
            Some(n) if n >= 0 => {
                limits.insert(name.clone(), n);
                if is_soft {
                    if matches!(name.as_str(), "stores" | "members") {
                        return Err(AppError::bad_input(
                            field,
                            format!("{name}: only a metric's quota can be soft"),
                        ));
                    }
                    soft.insert(name.clone());
                }
            }
            _ => {
                return Err(AppError::bad_input(
                    field,
                    format!(
                        "{name}: must be a whole number of at least 0, or {{\"max\": n, \"soft\": true}}"
                    ),
                ));
            }
        }
    }
    Ok((limits, soft))
}

/// Limits as `createPlan` takes them and `Plan.limits` shows them: a number, or
/// `{"max": n, "soft": true}` for a soft quota.
pub fn limits_json(limits: &Limits, soft: &BTreeSet<String>) -> serde_json::Value {
    limits
        .iter()
        .map(|(name, max)| {
            let value = if soft.contains(name) {
                serde_json::json!({ "max": max, "soft": true })
            } else {
                serde_json::json!(max)
            };
            (name.clone(), value)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

impl NewPlan {
    /// Validates `input`; every error names its field (`input.price`, …).
    pub fn parse(input: PlanInput) -> Result<Self, AppError> {
        let code = input.code.trim().to_owned();
        if !is_code(&code) {
            return Err(AppError::bad_input(
                "input.code",
                "2 to 40 lower-case letters, digits, '-' or '_', starting with a letter",
            ));
        }
        let name = crate::name::Name::parse_at_most(&input.name, "input.name", 100)?.into_string();
        let description = input
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 500)
        {
            return Err(AppError::bad_input(
                "input.description",
                "at most 500 characters",
            ));
        }
        let price_minor = parse_amount(&input.price, "input.price")?;
        let currency = match input.currency {
            Some(c) => parse_currency(&c, "input.currency")?,
            None => "KES".to_owned(),
        };
        let trial_days = input.trial_days.unwrap_or(0);
        if !(0..=365).contains(&trial_days) {
            return Err(AppError::bad_input(
                "input.trialDays",
                "between 0 and 365 days",
            ));
        }
        if input.rank.is_some_and(|r| !(0..=1000).contains(&r)) {
            return Err(AppError::bad_input("input.rank", "between 0 and 1000"));
        }
        let mut modules: BTreeSet<String> = super::ALWAYS_INCLUDED
            .iter()
            .map(|m| (*m).to_owned())
            .collect();
        for module in input.modules {
            if !crate::rbac::CATALOGUE.iter().any(|p| p.module == module) {
                return Err(AppError::bad_input(
                    "input.modules",
                    format!("unknown module {module:?}"),
                ));
            }
            modules.insert(module);
        }
        let (limits, soft_limits) = match &input.limits {
            Some(value) => parse_limits(value, "input.limits")?,
            None => Default::default(),
        };
        let mut metered_prices = Vec::new();
        for (metric, unit_price, included) in input.metered_prices {
            if !is_code(&metric) {
                return Err(AppError::bad_input(
                    "input.meteredPrices.metric",
                    format!("{metric:?} is not a metric code"),
                ));
            }
            if included < 0 {
                return Err(AppError::bad_input(
                    "input.meteredPrices.includedUnits",
                    "at least 0",
                ));
            }
            metered_prices.push(MeteredPrice {
                metric,
                unit_price_minor: parse_amount(&unit_price, "input.meteredPrices.unitPrice")?,
                included_units: i64::from(included),
            });
        }
        if input.grace_days.is_some_and(|d| !(0..=90).contains(&d)) {
            return Err(AppError::bad_input(
                "input.graceDays",
                "between 0 and 90 days",
            ));
        }
        let tax_rate_bp = match &input.tax_rate {
            Some(text) => Some(super::money::parse_percent(text).ok_or_else(|| {
                AppError::bad_input(
                    "input.taxRate",
                    "a percentage from 0 to 100 with at most two decimals",
                )
            })?),
            None => None,
        };
        Ok(Self {
            code,
            name,
            description,
            price_minor,
            currency,
            interval: input.interval,
            trial_days,
            rank: input.rank,
            modules,
            limits,
            soft_limits,
            metered_prices,
            grace_days: input.grace_days,
            tax_rate_bp,
            isolation: match input.isolation {
                Some(crate::tenancy::IsolationTier::Database) => {
                    return Err(AppError::bad_input(
                        "input.isolation",
                        "SHARED or SCHEMA: the DATABASE tier is per tenant, with its own database (moveTenant with databaseUrl)",
                    ));
                }
                other => other,
            },
        })
    }
}

/// The services.
pub mod manage {
    use super::{NewPlan, Plan};
    use crate::audit::AuditEntry;
    use crate::auth::Caller;
    use crate::db::Access;
    use crate::error::AppResult;
    use crate::services::Services;

    /// The plans offered now, by rank. [PUBLIC]
    pub async fn offered(services: &Services) -> AppResult<Vec<Plan>> {
        services.db.offered_plans().await
    }

    /// Creates a plan, or a new version of the plan with this code (which stops being
    /// offered; its subscriptions keep it until renewal). Audited in the platform's chain.
    /// [PA]
    pub async fn create(services: &Services, caller: &Caller, new: NewPlan) -> AppResult<Plan> {
        let admin = caller.platform_admin()?;
        let tx = services
            .db
            .platform_write(Access::Admin(&admin, "create plan"))
            .await?;
        let plan = tx.insert_plan_version(new).await?;
        let entry = AuditEntry::new("platform.plan.create", "plan", plan.id).with_changes(
            serde_json::json!({
                "code": plan.code, "version": plan.version, "price": plan.price.decimal(),
                "currency": plan.price.currency, "limits": super::limits_json(&plan.limits, &plan.soft_limits), "modules": plan.modules,
            }),
        );
        tx.audit(None, &caller.actor(), entry).await?;
        tx.commit().await?;
        Ok(plan)
    }
}
