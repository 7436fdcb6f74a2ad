//! Black-box tests: the real server over real sockets, laid out like the API.

#![allow(clippy::unwrap_used)]

mod common;

mod cli;
mod graphql_http;
mod health;
mod jobs;
mod schema;
mod tenancy;
mod websocket;
