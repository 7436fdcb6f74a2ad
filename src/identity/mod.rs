//! Identity: users, their credentials, and platform admins.

mod admins;
pub mod api_keys;
pub mod demo;
mod email;
pub mod invitations;
pub mod mail;
pub mod me;
pub mod password;
pub mod recovery;
pub mod registration;
pub mod sessions;

pub use admins::ensure_platform_admin;
pub use email::Email;

use chrono::{DateTime, Utc};

use crate::ids::UserId;

/// A user as the services see it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login email, lower-cased.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Phone number, if given.
    pub phone: Option<String>,
    /// Whether the email address was confirmed.
    pub email_verified: bool,
    /// Whether the user may use the platform scope.
    pub is_platform_admin: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What creating a user needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login email.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Phone number.
    pub phone: Option<String>,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// Whether the user is a platform admin.
    pub is_platform_admin: bool,
}

/// A user with the stored password hash, for login only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// argon2id PHC string; none for users who never set a password.
    pub password_hash: Option<String>,
}
