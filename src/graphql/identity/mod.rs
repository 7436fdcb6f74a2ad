//! Identity: users, sessions, invitations and API keys (adapters to `crate::identity`).

pub mod api_keys;
pub mod invitations;
pub mod sessions;
pub mod users;
