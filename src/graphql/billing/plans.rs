//! Plans and subscriptions.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Decimal, Money};
use crate::billing::plans::{PlanInput, manage};
use crate::billing::{self, NewPlan};
use crate::graphql::{caller, services};

/// How often a plan bills.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::billing::Interval")]
pub enum BillingInterval {
    /// Every month.
    Month,
    /// Every year.
    Year,
}

/// Where a subscription is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::billing::SubscriptionStatus")]
pub enum SubscriptionStatus {
    /// In its free trial.
    Trialing,
    /// Paid up.
    Active,
    /// An invoice is overdue; the grace period runs.
    PastDue,
    /// The grace period ran out: reads and paying only.
    Suspended,
    /// Ended.
    Canceled,
}

/// A price per unit of usage above what the plan includes.
#[derive(SimpleObject)]
pub struct MeteredPrice {
    /// The metric's code.
    metric: String,
    /// Price per unit above `includedUnits`.
    unit_price: Money,
    /// Units included in the plan's price.
    included_units: i32,
}

/// A plan a tenant can subscribe to.
#[derive(SimpleObject)]
pub struct Plan {
    /// Id of this version of the plan.
    id: ID,
    /// Stable code (`starter`).
    code: String,
    name: String,
    description: Option<String>,
    /// Price per interval.
    price: Money,
    interval: BillingInterval,
    /// Free days before the first invoice.
    trial_days: i32,
    /// Modules it enables (`core` and `billing` always).
    modules: Vec<String>,
    /// Limits by name, e.g. `{"members": 5, "stores": 3}`; an absent name is unlimited.
    limits: Json<serde_json::Value>,
    /// Prices of metered usage.
    metered_prices: Vec<MeteredPrice>,
    /// Offered to new subscriptions (an older version of a plan is not).
    active: bool,
    /// Version of the plan's code, from 1: a price change makes a new one.
    version: i32,
    /// Order among plans: a higher rank is an upgrade.
    rank: i32,
    /// Days PAST_DUE before SUSPENDED; null: the deployment's default.
    grace_days: Option<i32>,
    /// Tax (VAT) percent on its invoices; null: the deployment's default.
    tax_rate: Option<Decimal>,
    /// The isolation tier a tenant on this plan is put on (on PostgreSQL; SQLite has
    /// SHARED only): choosing the plan moves the tenant there live.
    isolation: crate::graphql::tenancy::tenants::IsolationTier,
}

impl From<billing::Plan> for Plan {
    fn from(p: billing::Plan) -> Self {
        let currency = p.price.currency.clone();
        Self {
            id: ID(p.id.to_string()),
            code: p.code,
            name: p.name,
            description: p.description,
            price: p.price.into(),
            interval: p.interval.into(),
            trial_days: p.trial_days,
            modules: p.modules.into_iter().collect(),
            limits: Json(crate::billing::plans::limits_json(
                &p.limits,
                &p.soft_limits,
            )),
            metered_prices: p
                .metered_prices
                .into_iter()
                .map(|m| MeteredPrice {
                    metric: m.metric,
                    unit_price: billing::Money::new(m.unit_price_minor, &currency).into(),
                    included_units: i32::try_from(m.included_units).unwrap_or(i32::MAX),
                })
                .collect(),
            active: p.active,
            isolation: p.isolation.into(),
            version: p.version,
            rank: p.rank,
            grace_days: p.grace_days,
            tax_rate: p
                .tax_rate_bp
                .map(|bp| Decimal(crate::billing::money::decimal(i64::from(bp)))),
        }
    }
}

/// A tenant's subscription to a plan.
#[derive(SimpleObject)]
pub struct PlanSubscription {
    id: ID,
    /// The plan version it is on (kept until renewal when the plan's price changes).
    plan: Plan,
    status: SubscriptionStatus,
    current_period_start: DateTime<Utc>,
    current_period_end: DateTime<Utc>,
    /// End of the free trial, if it had one.
    trial_end: Option<DateTime<Utc>>,
    /// Ends when the current period does.
    cancel_at_period_end: bool,
    canceled_at: Option<DateTime<Utc>>,
    /// End of the grace period while PAST_DUE.
    grace_until: Option<DateTime<Utc>>,
}

impl From<billing::Subscription> for PlanSubscription {
    fn from(s: billing::Subscription) -> Self {
        Self {
            id: ID(s.id.to_string()),
            plan: s.plan.into(),
            status: s.status.into(),
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            trial_end: s.trial_end,
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: s.canceled_at,
            grace_until: s.grace_until,
        }
    }
}

/// A metered price of a new plan.
#[derive(InputObject)]
pub struct MeteredPriceInput {
    metric: String,
    /// Price per unit above `includedUnits`.
    unit_price: Decimal,
    included_units: i32,
}

/// A new plan, or a new version of the plan with this code.
#[derive(InputObject)]
pub struct CreatePlanInput {
    /// Stable code: 2 to 40 lower-case letters, digits, '-' or '_'.
    code: String,
    name: String,
    description: Option<String>,
    /// Price per interval, e.g. `"1500.00"`.
    price: Decimal,
    /// ISO 4217 code; KES when absent.
    currency: Option<String>,
    interval: BillingInterval,
    /// Free days before the first invoice (0 to 365).
    trial_days: Option<i32>,
    /// Modules it enables (`core` and `billing` are added).
    modules: Vec<String>,
    /// Limits by name (whole numbers ≥ 0), e.g. `{"members": 5, "stores": 3}`.
    limits: Option<Json<serde_json::Value>>,
    metered_prices: Option<Vec<MeteredPriceInput>>,
    /// Order among plans (a higher rank is an upgrade); the replaced version's, or after
    /// every plan, when absent.
    rank: Option<i32>,
    /// Days an overdue subscription stays PAST_DUE before it is suspended (0 to 90); the
    /// deployment's `BILLING_GRACE_DAYS` when absent.
    grace_days: Option<i32>,
    /// Tax (VAT) percent on this plan's invoices, e.g. `"16"` (0 allowed); the deployment's
    /// `BILLING_TAX_RATE` when absent.
    tax_rate: Option<Decimal>,
    /// The isolation tier its tenants are put on: SHARED or SCHEMA (PostgreSQL; a tenant
    /// choosing the plan is moved there live); the replaced version's, else SHARED, when
    /// absent.
    isolation: Option<crate::graphql::tenancy::tenants::IsolationTier>,
}

impl TryFrom<CreatePlanInput> for NewPlan {
    type Error = crate::error::AppError;
    fn try_from(input: CreatePlanInput) -> Result<Self, Self::Error> {
        NewPlan::parse(PlanInput {
            code: input.code,
            name: input.name,
            description: input.description,
            price: input.price.0,
            currency: input.currency,
            interval: input.interval.into(),
            trial_days: input.trial_days,
            rank: input.rank,
            modules: input.modules,
            limits: input.limits.map(|j| j.0),
            metered_prices: input
                .metered_prices
                .unwrap_or_default()
                .into_iter()
                .map(|m| (m.metric, m.unit_price.0, m.included_units))
                .collect(),
            grace_days: input.grace_days,
            tax_rate: input.tax_rate.map(|d| d.0),
            isolation: input.isolation.map(Into::into),
        })
    }
}

/// Billing queries.
#[derive(Default)]
pub struct BillingQuery;

#[Object]
impl BillingQuery {
    /// The plans offered now, by rank. [PUBLIC]
    async fn plans(&self, ctx: &Context<'_>) -> Result<Vec<Plan>> {
        Ok(manage::offered(services(ctx)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The active tenant's subscription. [P:billing.read]
    async fn subscription(&self, ctx: &Context<'_>) -> Result<Option<PlanSubscription>> {
        Ok(
            billing::subscriptions::read::current(services(ctx)?, caller(ctx)?)
                .await?
                .map(Into::into),
        )
    }

    /// The server's clock (moved by `advanceClock` when the test clock is on). [PUBLIC]
    async fn clock(&self, ctx: &Context<'_>) -> Result<DateTime<Utc>> {
        Ok(services(ctx)?.now())
    }
}

/// Billing mutations.
#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Creates a plan, or a new version of the plan with this code (which then stops
    /// being offered; its subscriptions keep it until renewal). [PA]
    async fn create_plan(&self, ctx: &Context<'_>, input: CreatePlanInput) -> Result<Plan> {
        // Who asks comes before what is wrong with the input.
        caller(ctx)?.platform_admin()?;
        let new = NewPlan::try_from(input)?;
        Ok(manage::create(services(ctx)?, caller(ctx)?, new)
            .await?
            .into())
    }

    /// Moves the active tenant's subscription to plan `planCode`: an upgrade (higher rank)
    /// at once, with the unused part of the old plan credited and the rest of the period
    /// charged to the second (PRORATION lines on an invoice issued now); a downgrade at the
    /// period's end, refused naming the limit when the tenant already exceeds it; in a
    /// trial, at once. After the subscription ended, a new period starts on the plan now;
    /// the current plan again resumes one set to end or downgrade. [P:billing.manage]
    async fn change_plan(&self, ctx: &Context<'_>, plan_code: String) -> Result<PlanSubscription> {
        Ok(
            billing::changes::change_plan(services(ctx)?, caller(ctx)?, &plan_code)
                .await?
                .into(),
        )
    }

    /// Ends the active tenant's subscription: at the period's end (`atPeriodEnd: true`;
    /// choosing the plan again resumes it), or now, with the unused part of the period
    /// credited. [P:billing.manage]
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
        at_period_end: bool,
    ) -> Result<PlanSubscription> {
        Ok(
            billing::changes::cancel(services(ctx)?, caller(ctx)?, at_period_end)
                .await?
                .into(),
        )
    }

    /// Test clock only (`MSINGI_TEST_CLOCK=true`, refused in production): moves time
    /// forward by `seconds` on every process of the deployment, then answers, with the new
    /// time, once every job that fell due has run (or fails after 60 s naming what is
    /// still running). [PA]
    async fn advance_clock(&self, ctx: &Context<'_>, seconds: i32) -> Result<DateTime<Utc>> {
        Ok(billing::clock::advance(services(ctx)?, caller(ctx)?, i64::from(seconds)).await?)
    }
}
