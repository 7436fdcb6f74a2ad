//! Identity's tables: users, sessions and e-mail tokens (global), invitations and API keys
//! (tenant-owned, found by a secret before their tenant is known).

mod api_keys;
mod invitations;
mod sessions;
mod user_tokens;
pub(in crate::db) mod users;

pub(in crate::db) use users::{profile_to_user, to_user};
