//! Tenants: customer businesses.

use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::ids::TenantId;

/// A tenant's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    /// In use.
    Active,
    /// Members can read but not write.
    Suspended,
    /// Gone.
    Closed,
}

impl TenantStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Closed => "CLOSED",
        }
    }

    /// Parses the stored form; unknown values read as `Closed` (the safe side).
    pub fn from_stored(value: &str) -> Self {
        match value {
            "ACTIVE" => Self::Active,
            "SUSPENDED" => Self::Suspended,
            _ => Self::Closed,
        }
    }
}

/// Where a tenant's data-plane tables live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationTier {
    /// Shared tables keyed by tenant, with row-level security.
    Shared,
    /// Its own PostgreSQL schema.
    Schema,
    /// Its own database.
    Database,
}

impl IsolationTier {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "SHARED",
            Self::Schema => "SCHEMA",
            Self::Database => "DATABASE",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "SCHEMA" => Self::Schema,
            "DATABASE" => Self::Database,
            _ => Self::Shared,
        }
    }
}

/// A tenant as the services see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Id.
    pub id: TenantId,
    /// Subdomain-safe unique name.
    pub slug: Slug,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: TenantStatus,
    /// Isolation tier.
    pub isolation: IsolationTier,
    /// Free-form settings.
    pub settings: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What creating a tenant needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    /// Slug, already validated.
    pub slug: Slug,
    /// Display name.
    pub name: String,
}

/// A tenant slug: `[a-z0-9-]{3,40}`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Validates a slug; `field` names the argument in the error.
    pub fn parse(value: &str, field: &str) -> Result<Self, AppError> {
        let ok = (3..=40).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(AppError::bad_input(
                field,
                "use 3 to 40 lowercase letters, digits and '-', not starting or ending with '-'",
            ))
        }
    }

    /// A slug derived from a display name ("Mama Mboga Ltd." → `mama-mboga-ltd`), or none
    /// when the name has too few usable characters.
    pub fn derive(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug: String = slug.chars().take(40).collect();
        Self::parse(slug.trim_end_matches('-'), "").ok()
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated_and_derived() {
        assert!(Slug::parse("duka-1", "slug").is_ok());
        for bad in ["ab", "-abc", "abc-", "Abc", "a_b_c", &"a".repeat(41)] {
            assert!(Slug::parse(bad, "slug").is_err(), "{bad}");
        }
        assert_eq!(
            Slug::derive("Mama Mboga Ltd.").unwrap().as_str(),
            "mama-mboga-ltd"
        );
        assert_eq!(Slug::derive("!!"), None);
    }
}
