//! Tenancy: access to the active tenant, and isolation between tenants.

mod access;
mod isolation;
