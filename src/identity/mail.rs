//! The emails identity sends, rendered from `templates/email/` when the job is written. Links point at the SPA
//! (`APP_URL`), which calls the matching mutation with the token.

use minijinja::context;
use msingi_jobs::SendEmail;

use crate::error::AppResult;
use crate::identity::Email;
use crate::ids::TenantId;
use crate::notify::templates::{self, Brand};
use crate::tenancy::Tenant;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
    /// The message in a few sentences (what an in-app notification shows).
    pub summary: String,
    /// Its one link.
    pub link: String,
    /// Ids of what it is about (e.g. `invoiceId`), for the in-app notification's `data`.
    pub refs: serde_json::Map<String, serde_json::Value>,
}

impl Mail {
    /// The same mail, saying it is about `key` = `value` (e.g. `invoiceId`).
    pub fn about(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.refs.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or_default(),
        );
        self
    }

    /// The job that sends this mail to `to`.
    pub fn to_job(self, to: &Email, tenant: Option<TenantId>) -> SendEmail {
        SendEmail {
            message_id: uuid::Uuid::new_v4(),
            tenant_id: tenant.map(TenantId::into_uuid),
            to: to.as_str().to_owned(),
            subject: self.subject,
            text: self.text,
            html: self.html,
        }
    }
}

/// A link to the SPA page `path` carrying `token`.
pub fn link(app_url: &str, path: &str, token: &str) -> String {
    format!("{app_url}/{path}?token={token}")
}

/// Confirm your address.
pub fn verify_email(name: &str, link: &str) -> AppResult<Mail> {
    templates::render("verify_email", &Brand::platform(), link, context! { name })
}

/// Someone tried to register with an address that has an account.
pub fn account_exists(name: &str, link: &str) -> AppResult<Mail> {
    templates::render(
        "account_exists",
        &Brand::platform(),
        link,
        context! { name },
    )
}

/// Reset your password.
pub fn reset_password(name: &str, link: &str) -> AppResult<Mail> {
    templates::render(
        "reset_password",
        &Brand::platform(),
        link,
        context! { name },
    )
}

/// Join a tenant: sent in its branding.
pub fn invitation(tenant: &Tenant, inviter: &str, link: &str) -> AppResult<Mail> {
    templates::render(
        "invitation",
        &Brand::of(tenant),
        link,
        context! { tenant => tenant.name, inviter },
    )
}
