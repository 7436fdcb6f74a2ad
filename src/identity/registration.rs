//! Signing up: a user, their first tenant with its system roles and a default store, the
//! owner's membership, and a verification email, all in one transaction.

use chrono::Duration;

use crate::audit::AuditEntry;
use crate::auth::{Caller, tokens};
use crate::db::{Access, SystemTask};
use crate::error::{AppError, AppResult};
use crate::identity::recovery::TokenPurpose;
use crate::identity::sessions::{AuthTokens, start_session, tokens_for};
use crate::identity::{Email, NewUser, mail, password};
use crate::rbac::roles::{OWNER, system_roles};
use crate::services::Services;
use crate::tenancy::{NewStore, NewTenant, Slug};

/// Registration arguments, as sent.
#[derive(Debug, Clone)]
pub struct RegisterInput {
    /// Login email.
    pub email: String,
    /// Password, 8 to 128 characters.
    pub password: String,
    /// Display name.
    pub name: String,
    /// Phone number.
    pub phone: Option<String>,
    /// The first tenant's name.
    pub tenant_name: String,
    /// Its slug; derived from the name when absent.
    pub tenant_slug: Option<String>,
}

/// How long an email-verification link works.
pub const VERIFY_EMAIL_TTL: Duration = Duration::hours(24);
/// Sign-ups from one client address per throttle window (`LOGIN_LOCKOUT_SECS`).
pub const REGISTRATIONS_PER_WINDOW: u32 = 20;
/// Verification links carry `mev_…` tokens.
pub const VERIFY_PREFIX: &str = "mev_";

/// A display name: trimmed, 1 to 200 characters (the one [`Name`](crate::name::Name) rule).
pub fn parse_name(name: &str, field: &str) -> AppResult<String> {
    Ok(crate::name::Name::parse(name, field)?.into_string())
}

fn parse_phone(phone: Option<&str>) -> AppResult<Option<String>> {
    let Some(phone) = phone.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(phone.to_owned()))
    } else {
        Err(AppError::bad_input(
            "input.phone",
            "use digits only, optionally starting with +",
        ))
    }
}

/// `slug`, or the first of `slug-2`, `slug-3`, … that no tenant has.
async fn free_slug(tx: &crate::db::PlatformTx, slug: Slug) -> AppResult<Slug> {
    if tx.find_tenant_by_slug(slug.as_str()).await?.is_none() {
        return Ok(slug);
    }
    for n in 2..100 {
        let candidate = slug.with_suffix(n);
        if tx.find_tenant_by_slug(candidate.as_str()).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(slug.with_suffix(rand::random_range(100..1_000_000)))
}

/// Creates the account and its first tenant, and logs in.
pub async fn register(
    services: &Services,
    caller: &Caller,
    input: RegisterInput,
) -> AppResult<AuthTokens> {
    let email = Email::parse(&input.email, "input.email")?;
    password::validate(&input.password, "input.password")?;
    let name = parse_name(&input.name, "input.name")?;
    let phone = parse_phone(input.phone.as_deref())?;
    let tenant_name = parse_name(&input.tenant_name, "input.tenantName")?;
    let chosen = input
        .tenant_slug
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let slug = match chosen {
        Some(slug) => Slug::parse(slug, "input.tenantSlug")?,
        None => Slug::derive(&tenant_name).ok_or_else(|| {
            AppError::bad_input(
                "input.tenantSlug",
                "cannot be derived from the tenant name: give one",
            )
        })?,
    };
    // Sign-ups per client address are bounded, so the one answer that must differ (this
    // address has an account) cannot be asked of a list of addresses at speed.
    let address = caller.client().ip.unwrap_or_default();
    services
        .throttle
        .attempt(
            &format!("register:address:{address}"),
            REGISTRATIONS_PER_WINDOW,
        )
        .await?;
    let password_hash = password::hash(&input.password).await?;

    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::CreateTenant))
        .await?;
    if let Some(existing) = tx.find_user_by_email(&email).await? {
        // The owner of the address hears of it (once per throttle window), and the caller
        // is told only what it must be told.
        if services
            .throttle
            .attempt(&format!("register:taken:{email}"), 1)
            .await
            .is_ok()
        {
            let link = format!("{}/reset-password", services.config.http.app_url);
            tx.enqueue(&mail::account_exists(&existing.name, &link)?.to_job(&existing.email, None))
                .await?;
            tx.commit().await?;
        }
        return Err(AppError::Conflict(
            "this email address cannot be registered: if it is yours, log in or reset your \
             password"
                .into(),
        ));
    }
    let user = tx
        .insert_user(NewUser {
            email: email.clone(),
            name,
            phone,
            password_hash: Some(password_hash),
            is_platform_admin: false,
        })
        .await?;
    // A slug derived from the name moves aside when taken (two businesses called "Duka"
    // both sign up: `duka`, `duka-2`); only a slug the caller chose is a CONFLICT.
    let slug = if chosen.is_none() {
        free_slug(&tx, slug).await?
    } else {
        slug
    };
    let tenant = tx
        .insert_tenant(NewTenant {
            slug,
            name: tenant_name,
        })
        .await?;
    tx.insert_active_membership(tenant.id, user.id).await?;
    let verify_token = tokens::generate(VERIFY_PREFIX);
    tx.insert_user_token(
        user.id,
        TokenPurpose::VerifyEmail,
        &tokens::hash(&verify_token),
        services.now() + VERIFY_EMAIL_TTL,
    )
    .await?;
    let (session, refresh) =
        start_session(services, &tx, &user, Some(&tenant), &caller.client()).await?;

    let scope = tx.into_tenant(&tenant).await?;
    for role in system_roles() {
        let is_owner = role.name == OWNER;
        let role = scope.insert_role(role).await?;
        if is_owner {
            scope.assign_role(user.id, role.id, None).await?;
        }
    }
    scope
        .insert_store(NewStore::parse("Main store", Some("MAIN"))?)
        .await?;
    // The subscription starts on the default plan (in its trial, when it has one).
    let code = &services.config.billing.default_plan;
    let plan = scope.offered_plan(code).await?.ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "BILLING_DEFAULT_PLAN names {code:?}, which is not an offered plan"
        ))
    })?;
    scope.start_subscription(plan).await?;
    let link = mail::link(&services.config.http.app_url, "verify-email", &verify_token);
    scope
        .enqueue(&mail::verify_email(&user.name, &link)?.to_job(&user.email, Some(tenant.id)))
        .await?;
    let mut actor = caller.actor();
    actor.user = Some(user.id);
    let modules = scope.modules().await?.into_iter().collect();
    scope
        .commit(crate::audit::Audit::by(
            actor,
            AuditEntry::new("tenant.register", "tenant", tenant.id).with_changes(
                serde_json::json!({ "slug": tenant.slug.as_str(), "owner": user.email.as_str() }),
            ),
        ))
        .await?;
    tokens_for(services, &session, refresh, user, Some((tenant, modules)))
}
