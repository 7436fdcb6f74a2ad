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
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::bad_input(
            "input.name",
            "must be 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
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

/// The tenant's stores, a page at a time. [P:store.read]
pub async fn list(
    services: &crate::services::Services,
    caller: &crate::auth::Caller,
    page: crate::db::PageRequest,
) -> crate::error::AppResult<crate::db::Page<Store>> {
    let ctx = caller.tenant()?;
    ctx.require_somewhere(perm::STORE_READ)?;
    let scope = services.db.read(ctx).await?;
    // A request narrowed to one store (X-Store-ID) sees that store only.
    if let Some(only) = ctx
        .store_id()
        .filter(|s| ctx.has_in_store(perm::STORE_READ, *s))
    {
        let items: Vec<Store> = scope.get_store(only).await?.into_iter().collect();
        return Ok(crate::db::Page {
            total: items.len() as u64,
            has_next: false,
            has_previous: false,
            items,
        });
    }
    scope.list_stores(page).await
}

/// One store of the tenant; `None` when it is not in the caller's tenant. [P:store.read]
pub async fn get(
    services: &crate::services::Services,
    caller: &crate::auth::Caller,
    id: &str,
) -> crate::error::AppResult<Option<Store>> {
    let ctx = caller.tenant()?;
    ctx.require_somewhere(perm::STORE_READ)?;
    let id = StoreId::parse(id, "id")?;
    if ctx.store_id().is_some_and(|only| only != id) || !ctx.has_in_store(perm::STORE_READ, id) {
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
    pub async fn create(
        services: &Services,
        caller: &Caller,
        name: &str,
        code: Option<&str>,
    ) -> AppResult<Store> {
        let ctx = caller.require(perm::STORE_MANAGE)?;
        let new = NewStore::parse(name, code)?;
        let scope = services.db.write(ctx).await?;
        let store = scope.insert_store(new).await?;
        scope
            .audit(
                &caller.actor(),
                AuditEntry::new("store.create", "store", store.id).with_changes(
                    serde_json::json!({ "after": { "name": store.name, "code": store.code } }),
                ),
            )
            .await?;
        scope.commit().await?;
        Ok(store)
    }

    /// Renames or re-codes a store; NOT_FOUND outside the caller's tenant.
    pub async fn update(
        services: &Services,
        caller: &Caller,
        id: &str,
        name: Option<&str>,
        code: Option<&str>,
    ) -> AppResult<Store> {
        caller.tenant()?.require_somewhere(perm::STORE_MANAGE)?;
        let id = StoreId::parse(id, "id")?;
        let patch = StorePatch::parse(name, code)?;
        change(services, caller, id, patch, "store.update").await
    }

    /// Archives a store (kept for history, no longer active).
    pub async fn archive(services: &Services, caller: &Caller, id: &str) -> AppResult<Store> {
        caller.tenant()?.require_somewhere(perm::STORE_MANAGE)?;
        let id = StoreId::parse(id, "id")?;
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
        if ctx.store_id().is_some_and(|only| only != id) {
            return Err(AppError::NotFound { entity: "store" });
        }
        if !ctx.has_in_store(perm::STORE_MANAGE, id) {
            return Err(AppError::forbidden("requires the store.manage permission"));
        }
        let scope = services.db.write(ctx).await?;
        let before = scope
            .get_store(id)
            .await?
            .ok_or(AppError::NotFound { entity: "store" })?;
        let after = scope
            .update_store(id, patch)
            .await?
            .ok_or(AppError::NotFound { entity: "store" })?;
        scope
            .audit(
                &caller.actor(),
                AuditEntry::new(action, "store", id).with_changes(serde_json::json!({
                    "before": { "name": before.name, "code": before.code, "status": before.status.as_str() },
                    "after": { "name": after.name, "code": after.code, "status": after.status.as_str() },
                })),
            )
            .await?;
        scope.commit().await?;
        if after.status != before.status {
            // Contexts narrowed to this store (X-Store-ID) are re-checked.
            services.access.invalidate(ctx.tenant_id()).await;
        }
        Ok(after)
    }
}
