//! Msingi: a multi-tenant SaaS backend.
//!
//! Layers, top to bottom: `http` (axum: routes, middleware) → `graphql` (thin resolvers) →
//! services (`identity`, `tenancy`, …: rules and transactions) → `db` (the only SQL, tenant
//! scoping). Jobs are declared in the `msingi-jobs` crate and handled next to their domain;
//! `worker` runs them. See `../shared/DESIGN.md` for the whole picture.

pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod identity;
pub mod ids;
pub mod modules;
pub mod name;
pub mod notify;
pub mod page;
pub mod payments;
pub mod rbac;
pub mod request;
pub mod rights;
pub mod secrets;
pub mod services;
pub mod telemetry;
pub mod tenancy;
pub mod tiers;
pub mod usage;
pub mod webhooks;
pub mod worker;
pub use app::Application;
