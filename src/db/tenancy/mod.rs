//! Tenancy's tables: tenants, stores, memberships and modules.

mod admin;
mod members;
mod stores;
mod tenants;
