//! The platform scope (adapters to `crate::tenancy::tenants::manage`'s platform functions).

pub mod tenants;
