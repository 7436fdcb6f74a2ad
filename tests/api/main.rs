//! Black-box tests: the real server over real sockets, laid out like the API.

#![allow(clippy::unwrap_used)]

mod common;
mod examples;
mod personas;
mod smtp;

mod access;
mod api_keys;
mod attacks;
mod audit;
mod cli;
mod graphql_http;
mod health;
mod identity;
mod invitations;
mod isolation;
mod jobs;
mod platform;
mod rls;
mod schema;
mod tenancy;
mod tokens;
mod websocket;
