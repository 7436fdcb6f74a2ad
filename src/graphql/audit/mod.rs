//! The audit log (adapters to `crate::audit`).

pub mod log;
