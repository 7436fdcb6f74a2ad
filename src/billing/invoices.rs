//! Invoices: DRAFT → OPEN (finalized, numbered, immutable) → PAID / VOID / UNCOLLECTIBLE.
//! Amounts are exact in minor units; tax is computed once per invoice on its subtotal,
//! rounded half up to the minor unit.

use chrono::{DateTime, Utc};

use super::Money;

/// Where an invoice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    /// Being prepared; not yet owed.
    Draft,
    /// Finalized and owed.
    Open,
    /// Paid in full.
    Paid,
    /// Cancelled; nothing is owed.
    Void,
    /// Given up on.
    Uncollectible,
}

impl InvoiceStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Open => "OPEN",
            Self::Paid => "PAID",
            Self::Void => "VOID",
            Self::Uncollectible => "UNCOLLECTIBLE",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "DRAFT" => Self::Draft,
            "PAID" => Self::Paid,
            "VOID" => Self::Void,
            "UNCOLLECTIBLE" => Self::Uncollectible,
            _ => Self::Open,
        }
    }
}

/// What a line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// The plan's price for a period.
    Subscription,
    /// Metered usage above what the plan includes.
    Usage,
    /// A plan change within a period.
    Proration,
    /// Credit applied.
    Credit,
    /// A correction.
    Adjustment,
}

impl LineKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscription => "SUBSCRIPTION",
            Self::Usage => "USAGE",
            Self::Proration => "PRORATION",
            Self::Credit => "CREDIT",
            Self::Adjustment => "ADJUSTMENT",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "USAGE" => Self::Usage,
            "PRORATION" => Self::Proration,
            "CREDIT" => Self::Credit,
            "ADJUSTMENT" => Self::Adjustment,
            _ => Self::Subscription,
        }
    }
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    /// What it is.
    pub description: String,
    /// Its kind.
    pub kind: LineKind,
    /// How many units.
    pub quantity: i64,
    /// Per unit, minor units.
    pub unit_amount_minor: i64,
    /// `quantity × unit_amount_minor`.
    pub amount_minor: i64,
}

/// An invoice with its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    /// Id.
    pub id: uuid::Uuid,
    /// The tenant it bills.
    pub tenant_id: uuid::Uuid,
    /// Gap-free per tenant (`DUKA-000042`), from finalization; empty while DRAFT.
    pub number: Option<String>,
    /// Where it is in its life.
    pub status: InvoiceStatus,
    /// The period it bills, for subscription invoices.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Currency of every amount.
    pub currency: String,
    /// Lines, in order.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the lines.
    pub subtotal_minor: i64,
    /// Tax rate in basis points (1600 = 16%).
    pub tax_rate_bp: i32,
    /// Tax on the subtotal.
    pub tax_minor: i64,
    /// Subtotal plus tax.
    pub total_minor: i64,
    /// Paid so far.
    pub amount_paid_minor: i64,
    /// When it was finalized.
    pub issued_at: Option<DateTime<Utc>>,
    /// When it must be paid by.
    pub due_at: Option<DateTime<Utc>>,
    /// When it was paid in full.
    pub paid_at: Option<DateTime<Utc>>,
    /// The subscription it bills.
    pub subscription_id: Option<uuid::Uuid>,
    /// The part of `amount_paid_minor` paid from the tenant's credit.
    pub credit_applied_minor: i64,
    /// Dunning steps done.
    pub dunning_step: i32,
    /// When the next dunning step falls due (`None`: none left).
    pub next_dunning_at: Option<DateTime<Utc>>,
}

impl Invoice {
    /// `minor` in this invoice's currency.
    pub fn money(&self, minor: i64) -> Money {
        Money::new(minor, &self.currency)
    }

    /// What is still owed (never below zero).
    pub fn amount_due_minor(&self) -> i64 {
        match self.status {
            InvoiceStatus::Void | InvoiceStatus::Uncollectible | InvoiceStatus::Draft => 0,
            _ => (self.total_minor - self.amount_paid_minor).max(0),
        }
    }
}

/// A finalized invoice to issue.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    /// The subscription it bills.
    pub subscription_id: uuid::Uuid,
    /// The period.
    pub period: (DateTime<Utc>, DateTime<Utc>),
    /// Currency.
    pub currency: String,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// Tax rate, basis points.
    pub tax_rate_bp: i32,
    /// Days from issue to the due date.
    pub due_days: u32,
    /// The tenant's slug (the number's prefix).
    pub slug: String,
    /// Days after the due date of the first dunning step (`None`: no dunning).
    pub first_dunning_day: Option<u32>,
}

/// What signs invoices' hosted links: the token keys and the public URL.
#[derive(Debug, Clone)]
pub struct Links {
    keys: std::sync::Arc<crate::auth::keys::JwtKeys>,
    public_url: String,
    app_url: String,
}

impl Links {
    /// Links signed with `keys`, under `public_url` (the API) and `app_url` (the SPA).
    pub fn new(
        keys: std::sync::Arc<crate::auth::keys::JwtKeys>,
        public_url: &str,
        app_url: &str,
    ) -> Self {
        Self {
            keys,
            public_url: public_url.trim_end_matches('/').to_owned(),
            app_url: app_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The services' links.
    pub fn of(services: &crate::services::Services) -> Self {
        let http = &services.config.http;
        Self::new(services.keys.clone(), &http.public_url, &http.app_url)
    }

    /// The API's address (`PUBLIC_URL`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The SPA's address (`APP_URL`).
    pub fn app_url(&self) -> &str {
        &self.app_url
    }

    /// The signed link to `invoice`'s printable page, valid for [`read::LINK_TTL`] from `now`.
    pub fn hosted_url(
        &self,
        invoice: &Invoice,
        now: DateTime<Utc>,
    ) -> crate::error::AppResult<String> {
        let token = self
            .keys
            .issue_link(
                read::LINK,
                invoice.id,
                invoice.tenant_id,
                now,
                read::LINK_TTL,
            )
            .map_err(crate::error::AppError::internal)?;
        Ok(format!(
            "{}/invoices/{}?token={token}",
            self.public_url, invoice.id
        ))
    }
}

/// Tax on `subtotal` at `rate_bp` basis points, rounded half up to the minor unit (a
/// negative subtotal, a credit, rounds half away from zero).
pub fn tax_of(subtotal: i64, rate_bp: i32) -> i64 {
    let product = i128::from(subtotal) * i128::from(rate_bp);
    let half = 5_000i128;
    let rounded = if product >= 0 {
        (product + half) / 10_000
    } else {
        (product - half) / 10_000
    };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// The invoice number: the tenant's slug upper-cased, then the sequence on six digits.
pub fn number(slug: &str, sequence: i64) -> String {
    format!("{}-{sequence:06}", slug.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_is_exact_and_rounds_half_up_once_per_invoice() {
        assert_eq!(tax_of(150_000, 1600), 24_000);
        // 16% of KES 0.03 is 0.48 cents: rounds to 0; of 0.04 is 0.64: rounds to 1.
        assert_eq!(tax_of(3, 1600), 0);
        assert_eq!(tax_of(4, 1600), 1);
        // Exactly half a cent rounds up.
        assert_eq!(tax_of(50, 100), 1);
        assert_eq!(tax_of(-50, 100), -1);
        assert_eq!(tax_of(123_456, 0), 0);
        assert_eq!(number("duka", 42), "DUKA-000042");
    }
}

/// The services.
pub mod read {
    use super::{Invoice, InvoiceStatus};
    use crate::auth::Caller;
    use crate::error::AppResult;
    use crate::page::{Page, PageRequest};
    use crate::rbac::perm;
    use crate::services::Services;

    /// The link token's type.
    pub const LINK: &str = "invoice";
    /// How long a hosted link works.
    pub const LINK_TTL: chrono::Duration = chrono::Duration::days(90);

    /// The active tenant's invoices, newest first. [P:billing.read]
    pub async fn list(
        services: &Services,
        caller: &Caller,
        page: PageRequest,
        status: Option<InvoiceStatus>,
    ) -> AppResult<Page<Invoice>> {
        let ctx = caller.require(perm::BILLING_READ)?;
        services.db.read(ctx).await?.invoices(page, status).await
    }

    /// One invoice of the active tenant. [P:billing.read]
    pub async fn get(
        services: &Services,
        caller: &Caller,
        id: uuid::Uuid,
    ) -> AppResult<Option<Invoice>> {
        let ctx = caller.require(perm::BILLING_READ)?;
        services.db.read(ctx).await?.invoice(id).await
    }

    /// The invoice a hosted link names, with its tenant and payments: NOT_FOUND for a link that is not
    /// ours, is for another invoice, or has expired.
    pub async fn by_link(
        services: &Services,
        id: uuid::Uuid,
        token: &str,
    ) -> AppResult<(
        Invoice,
        crate::tenancy::Tenant,
        Vec<crate::payments::Payment>,
    )> {
        let not_found = crate::error::AppError::NotFound { entity: "invoice" };
        let claims = services
            .keys
            .verify_link(token, LINK, services.now())
            .map_err(|_| crate::error::AppError::NotFound { entity: "invoice" })?;
        let Some(tenant) = claims.tid.map(crate::ids::TenantId::from_uuid) else {
            return Err(not_found);
        };
        if claims.sub != id {
            return Err(not_found);
        }
        let tx = services
            .db
            .platform_read(crate::db::Access::Task(crate::db::SystemTask::InvoiceLink))
            .await?;
        let Some(tenant) = tx.find_tenant(tenant).await? else {
            return Err(not_found);
        };
        let scope = tx.into_tenant(&tenant).await?;
        let invoice = scope.invoice(id).await?.ok_or(not_found)?;
        let payments = scope.payments_of(vec![invoice.id]).await?;
        Ok((invoice, tenant, payments))
    }

    /// The signed link to `invoice`'s printable page (valid for [`LINK_TTL`]).
    pub fn hosted_url(services: &Services, invoice: &Invoice) -> AppResult<String> {
        super::Links::of(services).hosted_url(invoice, services.now())
    }
}
