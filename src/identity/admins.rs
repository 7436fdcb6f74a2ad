//! Platform admins: created from the CLI (`msingi admin create`) or from
//! `MSINGI_ADMIN_EMAIL`/`MSINGI_ADMIN_PASSWORD` at start.

use crate::db::Db;
use crate::error::AppResult;
use crate::identity::{Email, NewUser, User, password};

/// Makes sure a platform admin with this email exists and has this password: creates the
/// user, or promotes and re-keys an existing one. Returns the admin and whether it is new.
pub async fn ensure_platform_admin(
    db: &Db,
    email: &str,
    plain_password: &str,
) -> AppResult<(User, bool)> {
    let email = Email::parse(email, "email")?;
    password::validate(plain_password, "password")?;
    let hash = password::hash(plain_password).await?;
    let tx = db.global_write("ensure platform admin").await?;
    let result = match tx.find_user_by_email(&email).await? {
        Some(user) => (tx.make_platform_admin(user.id, &hash).await?, false),
        None => {
            let name = email
                .as_str()
                .split('@')
                .next()
                .unwrap_or("admin")
                .to_owned();
            let user = tx
                .insert_user(NewUser {
                    email,
                    name,
                    phone: None,
                    password_hash: Some(hash),
                    is_platform_admin: true,
                })
                .await?;
            (user, true)
        }
    };
    tx.commit().await?;
    Ok(result)
}
