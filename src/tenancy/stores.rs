//! Stores: units inside a tenant.

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
    let ctx = caller.require("store.read")?;
    services.db.read(ctx).await?.list_stores(page).await
}

/// One store of the tenant; `None` when it is not in the caller's tenant. [P:store.read]
pub async fn get(
    services: &crate::services::Services,
    caller: &crate::auth::Caller,
    id: &str,
) -> crate::error::AppResult<Option<Store>> {
    let ctx = caller.require("store.read")?;
    let id = StoreId::parse(id, "id")?;
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
