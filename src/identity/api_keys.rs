//! Tenant API keys: for servers. Shown once as `msk_<prefix>_<secret>`, stored as a hash,
//! limited to a subset of the creator's permissions, revocable at once.

use crate::rbac::perm;
use chrono::{DateTime, Utc};

use crate::audit::AuditEntry;
use crate::auth::caller::API_KEY_PREFIX;
use crate::auth::{Caller, tokens};
use crate::error::{AppError, AppResult};
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::rbac;
use crate::services::Services;

/// Key creation arguments, as sent.
#[derive(Debug, Clone)]
pub struct CreateApiKeyInput {
    /// Display name.
    pub name: String,
    /// Permission codes.
    pub permissions: Vec<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

fn prefix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..10)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Creates a key; returns it and the secret (shown this once).
pub async fn create(
    services: &Services,
    caller: &Caller,
    input: CreateApiKeyInput,
) -> AppResult<(ApiKey, String)> {
    let ctx = caller.require(perm::APIKEY_MANAGE)?;
    let name = crate::name::Name::parse_at_most(&input.name, "input.name", 100)?;
    let name = name.as_str();
    let mut permissions = Vec::new();
    for code in &input.permissions {
        let code = code.trim();
        if rbac::permission(code).is_none() {
            return Err(AppError::bad_input(
                "input.permissions",
                format!("unknown permission {code:?}"),
            ));
        }
        if ctx.beyond_own([&code.to_owned()]).is_some() {
            return Err(AppError::forbidden(format!(
                "you cannot grant {code}, which you do not hold"
            )));
        }
        if !permissions.iter().any(|p| p == code) {
            permissions.push(code.to_owned());
        }
    }
    if input.expires_at.is_some_and(|t| t <= services.now()) {
        return Err(AppError::bad_input(
            "input.expiresAt",
            "must be in the future",
        ));
    }
    let prefix = prefix();
    let secret = format!("{API_KEY_PREFIX}{prefix}_{}", tokens::generate(""));
    let scope = services.db.write(ctx).await?;
    let key = scope
        .insert_api_key(NewApiKey {
            name: name.to_owned(),
            prefix,
            secret_hash: tokens::hash(&secret),
            permissions,
            created_by: caller.user().ok().map(|u| u.id),
            expires_at: input.expires_at,
        })
        .await?;
    scope
        .commit(caller.audit(
            AuditEntry::new("apikey.create", "api_key", key.id).with_changes(
                serde_json::json!({ "name": key.name, "permissions": key.permissions }),
            ),
        ))
        .await?;
    Ok((key, secret))
}

/// Revokes a key; the next request made with it fails.
pub async fn revoke(services: &Services, caller: &Caller, id: ApiKeyId) -> AppResult<ApiKey> {
    let ctx = caller.require(perm::APIKEY_MANAGE)?;
    let scope = services.db.write(ctx).await?;
    let key = scope
        .revoke_api_key(id)
        .await?
        .ok_or(AppError::NotFound { entity: "api key" })?;
    scope.invalidates_access();
    scope
        .commit(caller.audit(AuditEntry::new("apikey.revoke", "api_key", key.id)))
        .await?;
    // Sockets opened with the key re-check it and close.

    Ok(key)
}

/// The tenant's keys.
pub async fn list(services: &Services, caller: &Caller) -> AppResult<Vec<ApiKey>> {
    let ctx = caller.require(perm::APIKEY_MANAGE)?;
    services.db.read(ctx).await?.list_api_keys().await
}

/// An API key as the services see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// The public part of the key (`msk_<prefix>_…`).
    pub prefix: String,
    /// What it may do.
    pub permissions: Vec<String>,
    /// Who made it (a key acts with at most what they still hold).
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last request made with it (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What creating a key needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// Name.
    pub name: String,
    /// Public prefix.
    pub prefix: String,
    /// Hash of the whole key.
    pub secret_hash: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}
