//! Tenancy: the active tenant, its stores and members (adapters to `crate::tenancy`).

pub mod members;
pub mod stores;
pub mod tenants;
