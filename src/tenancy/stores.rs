//! Stores: units inside a tenant.

use crate::rbac::perm;
use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::ids::StoreId;

/// Whether a store is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStatus {
    /// In use.
    Active,
    /// Kept for history, not in use.
    Archived,
}

impl StoreStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Archived => "ARCHIVED",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        if value == "ARCHIVED" {
            Self::Archived
        } else {
            Self::Active
        }
    }
}

/// A store as the services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// Id.
    pub id: StoreId,
    /// Display name.
    pub name: String,
    /// Short code, unique in the tenant.
    pub code: Option<String>,
    /// In use or archived.
    pub status: StoreStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A validated new store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStore {
    /// Display name.
    pub name: String,
    /// Short code.
    pub code: Option<String>,
}

impl NewStore {
    /// Validates the input; errors name `input.name` / `input.code`.
    pub fn parse(name: &str, code: Option<&str>) -> Result<Self, AppError> {
        Ok(Self {
            name: store_name(name)?,
            code: code.map(store_code).transpose()?,
        })
    }
}

/// A validated change to a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorePatch {
    /// New name.
    pub name: Option<String>,
    /// New code.
    pub code: Option<String>,
    /// New status.
    pub status: Option<StoreStatus>,
}

impl StorePatch {
    /// Validates the input; errors name `input.name` / `input.code`.
    pub fn parse(name: Option<&str>, code: Option<&str>) -> Result<Self, AppError> {
        Ok(Self {
            name: name.map(store_name).transpose()?,
            code: code.map(store_code).transpose()?,
            status: None,
        })
    }
}

fn store_name(name: &str) -> Result<String, AppError> {
    Ok(crate::name::Name::parse(name, "input.name")?.into_string())
}

fn store_code(code: &str) -> Result<String, AppError> {
    let code = code.trim();
    let ok = (1..=40).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(AppError::bad_input(
            "input.code",
            "use 1 to 40 letters, digits, '-' and '_'",
        ));
    }
    Ok(code.to_owned())
}

/// The tenant's stores, a page at a time; a request narrowed to one store (`X-Store-ID`)
/// sees that store only (the scope filters). [P:store.read]
pub async fn list(
    services: &crate::services::Services,
    caller: &crate::auth::Caller,
    page: crate::page::PageRequest,
) -> crate::error::AppResult<crate::page::Page<Store>> {
    let ctx = caller.tenant()?;
    ctx.require_somewhere(perm::STORE_READ)?;
    services.db.read(ctx).await?.list_stores(page).await
}

/// One store of the tenant; `None` when it is not in the caller's tenant (or not the store
/// the request is narrowed to). [P:store.read]
pub async fn get(
    services: &crate::services::Services,
    caller: &crate::auth::Caller,
    id: StoreId,
) -> crate::error::AppResult<Option<Store>> {
    let ctx = caller.tenant()?;
    ctx.require_somewhere(perm::STORE_READ)?;
    if !ctx.has_in_store(perm::STORE_READ, id) {
        return Ok(None);
    }
    services.db.read(ctx).await?.get_store(id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_input_is_validated_with_the_field_named() {
        assert!(NewStore::parse("Westlands", Some("WL-1")).is_ok());
        let err = NewStore::parse("   ", None).unwrap_err();
        assert!(matches!(err, AppError::BadInput { ref field, .. } if field == "input.name"));
        let err = NewStore::parse("ok", Some("no spaces")).unwrap_err();
        assert!(matches!(err, AppError::BadInput { ref field, .. } if field == "input.code"));
    }
}

/// Store operations that change things. [P:store.manage]
pub mod manage {
    use super::{NewStore, Store, StoreId, StorePatch, StoreStatus, perm};
    use crate::audit::AuditEntry;
    use crate::auth::Caller;
    use crate::error::{AppError, AppResult};
    use crate::services::Services;

    /// Creates a store.
    pub async fn create(services: &Services, caller: &Caller, new: NewStore) -> AppResult<Store> {
        let ctx = caller.require(perm::STORE_MANAGE)?;
        let scope = services.db.write(ctx).await?;
        if ctx.plan_limit("stores").is_some() {
            scope.lock_limits().await?;
            ctx.room_for_one_more("stores", scope.count_active_stores().await?)?;
        }
        let store = scope.insert_store(new).await?;
        scope
            .commit(caller.audit(
                AuditEntry::new("store.create", "store", store.id).with_changes(
                    serde_json::json!({ "after": { "name": store.name, "code": store.code } }),
                ),
            ))
            .await?;
        Ok(store)
    }

    /// Renames or re-codes a store; NOT_FOUND outside the caller's tenant.
    pub async fn update(
        services: &Services,
        caller: &Caller,
        id: StoreId,
        patch: StorePatch,
    ) -> AppResult<Store> {
        change(services, caller, id, patch, "store.update").await
    }

    /// Archives a store (kept for history, no longer active).
    pub async fn archive(services: &Services, caller: &Caller, id: StoreId) -> AppResult<Store> {
        let patch = StorePatch {
            status: Some(StoreStatus::Archived),
            ..StorePatch::default()
        };
        change(services, caller, id, patch, "store.archive").await
    }

    async fn change(
        services: &Services,
        caller: &Caller,
        id: StoreId,
        patch: StorePatch,
        action: &str,
    ) -> AppResult<Store> {
        let ctx = caller.tenant()?;
        ctx.require_somewhere(perm::STORE_MANAGE)?;
        let scope = services.db.write(ctx).await?;
        let before = scope
            .get_store(id)
            .await?
            .ok_or(AppError::NotFound { entity: "store" })?;
        if !ctx.has_in_store(perm::STORE_MANAGE, id) {
            return Err(AppError::forbidden("requires the store.manage permission"));
        }
        let after = scope
            .update_store(id, patch)
            .await?
            .ok_or(AppError::NotFound { entity: "store" })?;
        if after.status != before.status {
            // Contexts narrowed to this store (X-Store-ID) are re-checked.
            scope.invalidates_access();
        }
        scope.commit(caller.audit(AuditEntry::new(action, "store", id).with_changes(serde_json::json!({
                    "before": { "name": before.name, "code": before.code, "status": before.status.as_str() },
                    "after": { "name": after.name, "code": after.code, "status": after.status.as_str() },
                })))).await?;
        Ok(after)
    }
}
