//! Black-box tests: the real server over real sockets, laid out like `src/` (one folder per
//! feature); `db/` holds the repository-level tests below the API.

#![allow(clippy::unwrap_used)]

mod common;
mod ops;
mod personas;
mod smtp;

mod attacks;
mod audit;
mod auth;
pub mod billing;
mod cli;
mod db;
mod examples;
mod http;
mod identity;
pub mod inventory;
mod payments;
mod platform;
mod rights;
mod schema;
mod tenancy;
pub mod tiers;
mod usage;
mod webhooks;
mod worker;
