//! Plans (a public catalogue) and subscriptions (a tenant's), and what they entitle a
//! tenant to; invoices in `invoices`.

pub mod invoices;
pub mod lifecycle;

use std::collections::BTreeSet;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::billing::subscriptions::first_period;
use crate::billing::{
    Interval, Limits, MeteredPrice, Money, NewPlan, Plan, Subscription, SubscriptionStatus,
};
use crate::db::entities::{plans, subscriptions, tenant_modules};
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::tenancy::CORE;

pub(super) fn to_plan(row: plans::Model) -> Plan {
    let (limits, soft_limits) =
        crate::billing::plans::parse_limits(&row.limits, "limits").unwrap_or_default();
    Plan {
        id: row.id,
        code: row.code,
        version: row.version,
        name: row.name,
        description: row.description,
        price: Money::new(row.price_minor, &row.currency),
        interval: Interval::from_stored(&row.interval),
        trial_days: row.trial_days,
        rank: row.rank,
        modules: serde_json::from_value(row.modules).unwrap_or_default(),
        limits,
        soft_limits,
        metered_prices: serde_json::from_value::<Vec<MeteredPrice>>(row.metered_prices)
            .unwrap_or_default(),
        grace_days: row.grace_days,
        tax_rate_bp: row.tax_rate_bp,
        active: row.active,
        created_at: row.created_at,
        isolation: crate::tenancy::IsolationTier::from_stored(&row.isolation),
    }
}

pub(super) fn to_subscription(row: subscriptions::Model, plan: Plan) -> Subscription {
    Subscription {
        id: row.id,
        plan,
        status: SubscriptionStatus::from_stored(&row.status),
        current_period_start: row.current_period_start,
        current_period_end: row.current_period_end,
        trial_end: row.trial_end,
        cancel_at_period_end: row.cancel_at_period_end,
        canceled_at: row.canceled_at,
        grace_until: row.grace_until,
        pending_plan_id: row.pending_plan_id,
        suspended_at: row.suspended_at,
    }
}

/// A tenant's modules: its plan's (none before it has a subscription), then the platform's
/// overrides on top (on or off), `core` always.
fn modules_of(plan: Option<&Plan>, overrides: Vec<tenant_modules::Model>) -> BTreeSet<String> {
    let mut modules: BTreeSet<String> = plan.map(|p| p.modules.clone()).unwrap_or_default();
    for row in overrides {
        if row.enabled {
            modules.insert(row.module);
        } else {
            modules.remove(&row.module);
        }
    }
    modules.insert(CORE.to_owned());
    modules
}

/// What a plan entitles a tenant to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entitlements {
    /// Its modules.
    pub modules: BTreeSet<String>,
    /// Its plan's name and limits (`None`: no subscription, no limits).
    pub plan: Option<(String, Limits)>,
    /// Where its subscription is (`None`: it has none).
    pub billing: Option<SubscriptionStatus>,
}

impl crate::db::Db {
    /// The plans offered now, by rank.
    pub async fn offered_plans(&self) -> AppResult<Vec<Plan>> {
        let tx = self.global_read("plans").await?;
        Ok(tx
            .global::<plans::Entity>()
            .find()
            .filter(plans::Column::Active.eq(true))
            .order_by_asc(plans::Column::Rank)
            .all()
            .await?
            .into_iter()
            .map(to_plan)
            .collect())
    }
}

impl PlatformTx {
    /// Inserts `new` as the next version of its code (version 1 for a new code); earlier
    /// versions stop being offered.
    pub async fn insert_plan_version(&self, new: NewPlan) -> AppResult<Plan> {
        let table = self.across_tenants::<plans::Entity>();
        table.advisory_lock(&format!("plan:{}", new.code)).await?;
        let previous = table
            .find()
            .filter(plans::Column::Code.eq(new.code.as_str()))
            .order_by_desc(plans::Column::Version)
            .limit(1)
            .one()
            .await?;
        let rank = match (new.rank, &previous) {
            (Some(rank), _) => rank,
            (None, Some(previous)) => previous.rank,
            (None, None) => table
                .find()
                .order_by_desc(plans::Column::Rank)
                .limit(1)
                .one()
                .await?
                .map_or(0, |p| p.rank + 1),
        };
        table
            .update()
            .set(plans::Column::Active, Expr::value(false))
            .filter(plans::Column::Code.eq(new.code.as_str()))
            .exec()
            .await?;
        let row = table
            .insert(plans::ActiveModel {
                id: Set(uuid::Uuid::new_v4()),
                code: Set(new.code.clone()),
                version: Set(previous.as_ref().map_or(1, |p| p.version + 1)),
                name: Set(new.name),
                description: Set(new.description),
                price_minor: Set(new.price_minor),
                currency: Set(new.currency),
                interval: Set(new.interval.as_str().to_owned()),
                trial_days: Set(new.trial_days),
                rank: Set(rank),
                modules: Set(serde_json::json!(new.modules)),
                limits: Set(crate::billing::plans::limits_json(
                    &new.limits,
                    &new.soft_limits,
                )),
                metered_prices: Set(serde_json::json!(new.metered_prices)),
                grace_days: Set(new.grace_days),
                tax_rate_bp: Set(new.tax_rate_bp),
                isolation: Set(new
                    .isolation
                    .or(previous
                        .as_ref()
                        .map(|p| crate::tenancy::IsolationTier::from_stored(&p.isolation)))
                    .unwrap_or(crate::tenancy::IsolationTier::Shared)
                    .as_str()
                    .to_owned()),
                active: Set(true),
                created_at: Set(self.now()),
            })
            .await
            .map_err(|e| AppError::conflict_on_unique(e, "this plan changed at the same time"))?;
        Ok(to_plan(row))
    }

    /// The isolation tier `tenant`'s plan puts it on (`None`: no subscription).
    pub async fn plan_tier(
        &self,
        tenant: TenantId,
    ) -> AppResult<Option<crate::tenancy::IsolationTier>> {
        let Some(subscription) = self
            .across_tenants::<subscriptions::Entity>()
            .find()
            .filter(subscriptions::Column::TenantId.eq(tenant.into_uuid()))
            .one()
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .across_tenants::<plans::Entity>()
            .by_id(subscription.plan_id)
            .one()
            .await?
            .map(|p| crate::tenancy::IsolationTier::from_stored(&p.isolation)))
    }

    /// What `tenant`'s plan and the platform's overrides entitle it to.
    pub async fn tenant_entitlements(&self, tenant: TenantId) -> AppResult<Entitlements> {
        let subscription = self
            .across_tenants::<subscriptions::Entity>()
            .find()
            .filter(subscriptions::Column::TenantId.eq(tenant.into_uuid()))
            .one()
            .await?;
        let billing = subscription
            .as_ref()
            .map(|s| SubscriptionStatus::from_stored(&s.status));
        let plan = match subscription {
            Some(s) => self
                .across_tenants::<plans::Entity>()
                .by_id(s.plan_id)
                .one()
                .await?
                .map(to_plan),
            None => None,
        };
        let overrides = self
            .across_tenants::<tenant_modules::Entity>()
            .find()
            .filter(tenant_modules::Column::TenantId.eq(tenant.into_uuid()))
            .all()
            .await?;
        Ok(Entitlements {
            modules: modules_of(plan.as_ref(), overrides),
            plan: plan.map(|p| (p.name, p.limits)),
            billing,
        })
    }

    /// A tenant's subscription, with its plan version.
    pub async fn tenant_subscription(&self, tenant: TenantId) -> AppResult<Option<Subscription>> {
        let Some(row) = self
            .across_tenants::<subscriptions::Entity>()
            .find()
            .filter(subscriptions::Column::TenantId.eq(tenant.into_uuid()))
            .one()
            .await?
        else {
            return Ok(None);
        };
        let plan = self
            .across_tenants::<plans::Entity>()
            .by_id(row.plan_id)
            .one()
            .await?
            .map(to_plan);
        Ok(plan.map(|plan| to_subscription(row, plan)))
    }

    /// A tenant's modules (`core` always).
    pub async fn tenant_modules(&self, tenant: TenantId) -> AppResult<BTreeSet<String>> {
        Ok(self.tenant_entitlements(tenant).await?.modules)
    }
}

impl TenantScope {
    /// The offered version of plan `code`.
    pub async fn offered_plan(&self, code: &str) -> AppResult<Option<Plan>> {
        Ok(self
            .catalogue::<plans::Entity>()
            .find()
            .filter(plans::Column::Code.eq(code))
            .filter(plans::Column::Active.eq(true))
            .one()
            .await?
            .map(to_plan))
    }

    /// Plan version `id` (offered or not).
    pub async fn plan_version(&self, id: uuid::Uuid) -> AppResult<Option<Plan>> {
        Ok(self
            .catalogue::<plans::Entity>()
            .by_id(id)
            .one()
            .await?
            .map(to_plan))
    }

    /// Starts this tenant's subscription on `plan` (its trial, when it has one).
    pub async fn start_subscription(&self, plan: Plan) -> AppResult<Subscription> {
        let now = self.now();
        let (status, period_end, trial_end) = first_period(&plan, now);
        let row = self
            .table::<subscriptions::Entity>()
            .insert(subscriptions::ActiveModel {
                id: Set(uuid::Uuid::new_v4()),
                plan_id: Set(plan.id),
                status: Set(status.as_str().to_owned()),
                current_period_start: Set(now),
                current_period_end: Set(period_end),
                trial_end: Set(trial_end),
                cancel_at_period_end: Set(false),
                canceled_at: Set(None),
                grace_until: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                AppError::conflict_on_unique(e, "the tenant already has a subscription")
            })?;
        Ok(to_subscription(row, plan))
    }

    /// This tenant's subscription, with its plan version.
    pub async fn subscription(&self) -> AppResult<Option<Subscription>> {
        let Some(row) = self.table::<subscriptions::Entity>().find().one().await? else {
            return Ok(None);
        };
        let Some(plan) = self
            .catalogue::<plans::Entity>()
            .by_id(row.plan_id)
            .one()
            .await?
            .map(to_plan)
        else {
            return Ok(None);
        };
        Ok(Some(to_subscription(row, plan)))
    }

    /// This tenant's modules: its plan's and the platform's overrides, `core` always.
    pub async fn modules(&self) -> AppResult<BTreeSet<String>> {
        let plan = self.subscription().await?.map(|s| s.plan);
        let overrides = self.table::<tenant_modules::Entity>().find().all().await?;
        Ok(modules_of(plan.as_ref(), overrides))
    }

    /// Serialises this tenant's writers that check a plan limit (PostgreSQL), so two
    /// concurrent requests cannot both take the last place.
    pub async fn lock_limits(&self) -> AppResult<()> {
        self.table::<subscriptions::Entity>()
            .advisory_lock(&format!("limits:{}", self.tenant_id()))
            .await
    }
}

/// What the plan limits count.
impl TenantScope {
    /// Active stores.
    pub async fn count_active_stores(&self) -> AppResult<u64> {
        use crate::db::entities::stores;
        Ok(self
            .table::<stores::Entity>()
            .find()
            .filter(stores::Column::Status.eq(crate::tenancy::StoreStatus::Active.as_str()))
            .count()
            .await?)
    }

    /// Seats taken: active members (the owner included) and pending, unexpired invitations,
    /// except one to `replacing` (a new invitation to the same address replaces it).
    pub async fn count_seats(&self, replacing: Option<&str>) -> AppResult<u64> {
        use crate::db::entities::{invitations, memberships};
        use crate::identity::invitations::InvitationStatus;
        let members = self
            .table::<memberships::Entity>()
            .find()
            .filter(
                memberships::Column::Status
                    .eq(crate::tenancy::MembershipStatus::Active.as_stored()),
            )
            .count()
            .await?;
        let mut pending = self
            .table::<invitations::Entity>()
            .find()
            .filter(invitations::Column::Status.eq(InvitationStatus::Pending.as_stored()))
            .filter(invitations::Column::ExpiresAt.gt(self.now()));
        if let Some(email) = replacing {
            pending = pending.filter(invitations::Column::Email.ne(email));
        }
        Ok(members + pending.count().await?)
    }
}
