//! A tenant's subscription: one per tenant, on one plan version. New tenants start
//! TRIALING on `BILLING_DEFAULT_PLAN`.

use chrono::{DateTime, Utc};

use super::Plan;

/// Where a subscription is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// In its free trial.
    Trialing,
    /// Paid up.
    Active,
    /// An invoice is overdue; the grace period runs.
    PastDue,
    /// Grace ran out: reads and paying only.
    Suspended,
    /// Ended.
    Canceled,
}

impl SubscriptionStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "TRIALING",
            Self::Active => "ACTIVE",
            Self::PastDue => "PAST_DUE",
            Self::Suspended => "SUSPENDED",
            Self::Canceled => "CANCELED",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "TRIALING" => Self::Trialing,
            "PAST_DUE" => Self::PastDue,
            "SUSPENDED" => Self::Suspended,
            "CANCELED" => Self::Canceled,
            _ => Self::Active,
        }
    }
}

/// A subscription with its plan version.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// Id.
    pub id: uuid::Uuid,
    /// The plan version it is on.
    pub plan: Plan,
    /// Where it is in its life.
    pub status: SubscriptionStatus,
    /// Start of the current period.
    pub current_period_start: DateTime<Utc>,
    /// End of the current period.
    pub current_period_end: DateTime<Utc>,
    /// End of the trial, if it had one.
    pub trial_end: Option<DateTime<Utc>>,
    /// Ends at the end of the period.
    pub cancel_at_period_end: bool,
    /// When it was canceled.
    pub canceled_at: Option<DateTime<Utc>>,
    /// End of the grace period while PAST_DUE.
    pub grace_until: Option<DateTime<Utc>>,
    /// The plan version a downgrade moves to at the period's end.
    pub pending_plan_id: Option<uuid::Uuid>,
    /// When grace ran out (while SUSPENDED).
    pub suspended_at: Option<DateTime<Utc>>,
}

/// A change to a subscription: each `Some` is set, the rest stays.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    /// The plan version.
    pub plan_id: Option<uuid::Uuid>,
    /// The status.
    pub status: Option<SubscriptionStatus>,
    /// The current period.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// End of the trial.
    pub trial_end: Option<Option<DateTime<Utc>>>,
    /// Ends at the period's end.
    pub cancel_at_period_end: Option<bool>,
    /// When it was canceled.
    pub canceled_at: Option<Option<DateTime<Utc>>>,
    /// End of grace.
    pub grace_until: Option<Option<DateTime<Utc>>>,
    /// The downgrade waiting for the period's end.
    pub pending_plan_id: Option<Option<uuid::Uuid>>,
    /// When grace ran out.
    pub suspended_at: Option<Option<DateTime<Utc>>>,
}

/// The first period of a new subscription on `plan` from `now`: the trial when the plan
/// has one (status TRIALING, the period ends with the trial), else one interval.
pub fn first_period(
    plan: &Plan,
    now: DateTime<Utc>,
) -> (SubscriptionStatus, DateTime<Utc>, Option<DateTime<Utc>>) {
    if plan.trial_days > 0 {
        let end = now + chrono::Duration::days(i64::from(plan.trial_days));
        (SubscriptionStatus::Trialing, end, Some(end))
    } else {
        (
            SubscriptionStatus::Active,
            plan.interval.period_end(now),
            None,
        )
    }
}

/// The services.
pub mod read {
    use super::Subscription;
    use crate::auth::Caller;
    use crate::error::AppResult;
    use crate::rbac::perm;
    use crate::services::Services;

    /// The active tenant's subscription. [P:billing.read]
    pub async fn current(services: &Services, caller: &Caller) -> AppResult<Option<Subscription>> {
        let ctx = caller.require(perm::BILLING_READ)?;
        let scope = services.db.read(ctx).await?;
        scope.subscription().await
    }

    /// `tenant`'s subscription, as `Tenant.subscription` shows it: to a member of the
    /// active tenant with billing.read, or to a platform admin (any tenant).
    pub async fn of_tenant(
        services: &Services,
        caller: &Caller,
        tenant: crate::ids::TenantId,
    ) -> AppResult<Option<Subscription>> {
        if let Ok(admin) = caller.platform_admin()
            && caller
                .active_tenant()
                .is_none_or(|ctx| ctx.tenant_id() != tenant)
        {
            let tx = services
                .db
                .platform_read(crate::db::Access::Admin(&admin, "tenant subscription"))
                .await?;
            return tx.tenant_subscription(tenant).await;
        }
        let ctx = caller.require(perm::BILLING_READ)?;
        if ctx.tenant_id() != tenant {
            return Err(crate::error::AppError::NotFound { entity: "tenant" });
        }
        services.db.read(ctx).await?.subscription().await
    }
}
