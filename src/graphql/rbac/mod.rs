//! Access control: roles and the permission catalogue (adapters to `crate::rbac`).

pub mod roles;
