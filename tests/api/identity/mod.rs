//! Identity: users and sessions, invitations, API keys.

mod api_keys;
mod invitations;
mod users;
