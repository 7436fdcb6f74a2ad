//! Isolation tiers: where a tenant's data plane (the domain modules' tables) lives, and
//! moving it while the tenant runs.
//!
//! - `SHARED`: the main database's tables, rows keyed by `tenant_id` under FORCEd
//!   row-level security (the default; the only tier on SQLite).
//! - `SCHEMA`: the tenant's own PostgreSQL schema ([`schema_name`]), reached by a
//!   transaction-local `search_path` that [`Db::data`](crate::db::Db::data) sets; the same
//!   tables, the same row-level security inside it.
//!
//! The routing point is `Db::data`: it reads the tier in the unit of work it opens, so a
//! switch is seen by the next unit of work on every node, with no cache to invalidate.

use crate::ids::TenantId;

pub use crate::tenancy::IsolationTier;

/// The PostgreSQL schema of a tenant on the `SCHEMA` tier: `tenant_` and its id's 32 hex
/// digits (a valid identifier, never quoted differently).
pub fn schema_name(tenant: TenantId) -> String {
    format!("tenant_{}", tenant.into_uuid().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_name_is_a_plain_identifier() {
        let name = schema_name(TenantId::new());
        assert_eq!(name.len(), "tenant_".len() + 32);
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }
}
