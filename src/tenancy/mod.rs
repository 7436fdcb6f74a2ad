//! Tenancy: who is asking ([`Principal`]), in which tenant and store ([`TenantContext`]),
//! and the tenant and store records themselves.

pub mod access;
mod context;
pub mod members;
pub mod stores;
pub mod tenants;

pub use crate::ids::{StoreId, TenantId, UserId};
pub use context::{Principal, TenantContext};
pub use members::{MemberRecord, Membership, MembershipStatus};
pub use stores::{NewStore, Store, StorePatch, StoreStatus};
pub use tenants::{IsolationTier, NewTenant, Slug, Tenant, TenantStatus};

/// The module every tenant has.
pub const CORE: &str = "core";
