//! Proving access to an inbox: email verification and password reset.

use chrono::Duration;

use crate::audit::AuditEntry;
use crate::auth::{Caller, tokens};
use crate::db::{Access, SystemTask};
use crate::error::{AppError, AppResult};
use crate::identity::{Email, mail, password};
use crate::services::Services;

/// How long a password-reset link works.
pub const RESET_TTL: Duration = Duration::hours(1);
/// Reset links carry `mpr_…` tokens.
const RESET_PREFIX: &str = "mpr_";
/// Reset emails per address per throttle window.
const RESET_MAILS_PER_WINDOW: u32 = 5;

/// Mails a reset link when the address belongs to an account. Always `true`: the answer
/// says nothing about whether the account exists.
pub async fn request_password_reset(
    services: &Services,
    caller: &Caller,
    email: &str,
) -> AppResult<bool> {
    let Ok(email) = Email::parse(email, "email") else {
        return Ok(true);
    };
    let key = format!("reset:{email}");
    if services
        .throttle
        .attempt(&key, RESET_MAILS_PER_WINDOW)
        .await
        .is_err()
    {
        return Ok(true);
    }
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::Recovery))
        .await?;
    let Some(user) = tx.find_user_by_email(&email).await? else {
        return Ok(true);
    };
    let token = tokens::generate(RESET_PREFIX);
    tx.expire_user_tokens(user.id, TokenPurpose::ResetPassword)
        .await?;
    tx.insert_user_token(
        user.id,
        TokenPurpose::ResetPassword,
        &tokens::hash(&token),
        services.now() + RESET_TTL,
    )
    .await?;
    let link = mail::link(&services.config.http.app_url, "reset-password", &token);
    tx.enqueue(&mail::reset_password(&user.name, &link)?.to_job(&user.email, None))
        .await?;
    tx.audit(
        None,
        &caller.actor(),
        AuditEntry::new("user.password_reset_requested", "user", user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Sets a new password with a reset token, and signs the user out everywhere.
pub async fn reset_password(
    services: &Services,
    token: &str,
    new_password: &str,
) -> AppResult<bool> {
    password::validate(new_password, "newPassword")?;
    let hash = password::hash(new_password).await?;
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::Recovery))
        .await?;
    let user = tx
        .consume_user_token(&tokens::hash(token.trim()), TokenPurpose::ResetPassword)
        .await?
        .ok_or_else(|| {
            AppError::bad_input("token", "this reset link is invalid, used or expired")
        })?;
    tx.set_password_hash(user, &hash).await?;
    // Reading the mail proved the address too.
    tx.mark_email_verified(user).await?;
    let revoked = tx.revoke_user_sessions(user, "password_reset").await?;
    let actor = crate::audit::Actor {
        user: Some(user),
        ..Default::default()
    };
    tx.audit(
        None,
        &actor,
        AuditEntry::new("user.password_reset", "user", user)
            .with_changes(serde_json::json!({ "sessionsRevoked": revoked })),
    )
    .await?;
    tx.ends_sessions_of(user);
    tx.commit().await?;
    tracing::info!(%user, revoked, "password reset; sessions revoked");
    Ok(true)
}

/// Confirms an email address with a verification token.
pub async fn verify_email(services: &Services, token: &str) -> AppResult<bool> {
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::Recovery))
        .await?;
    let user = tx
        .consume_user_token(&tokens::hash(token.trim()), TokenPurpose::VerifyEmail)
        .await?
        .ok_or_else(|| {
            AppError::bad_input(
                "token",
                "this verification link is invalid, used or expired",
            )
        })?;
    tx.mark_email_verified(user).await?;
    let actor = crate::audit::Actor {
        user: Some(user),
        ..Default::default()
    };
    tx.audit(
        None,
        &actor,
        AuditEntry::new("user.email_verified", "user", user),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// What an emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirms an email address.
    VerifyEmail,
    /// Sets a new password.
    ResetPassword,
}

impl TokenPurpose {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "VERIFY_EMAIL",
            Self::ResetPassword => "RESET_PASSWORD",
        }
    }
}
