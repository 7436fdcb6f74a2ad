//! Password hashing: argon2id with OWASP's minimum parameters (m = 19456 KiB, t = 2, p = 1).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::AppError;

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 19_456;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Parallelism.
pub const PARALLELISM: u32 = 1;

fn hasher() -> Result<Argon2<'static>, AppError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Whether a stored hash was made with other parameters than today's (then the login
/// that just verified it stores a new one).
pub fn needs_rehash(stored: &str) -> bool {
    let current = format!("$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}$");
    !stored.starts_with(&current)
}

/// Checks the length rule (8 to 128 characters); `field` names the argument.
pub fn validate(password: &str, field: &str) -> Result<(), AppError> {
    let len = password.chars().count();
    if (8..=128).contains(&len) {
        Ok(())
    } else {
        Err(AppError::bad_input(field, "must be 8 to 128 characters"))
    }
}

/// At most this many argon2 computations run at once (each takes 19 MiB): a flood of
/// logins or registrations queues here instead of exhausting memory and the blocking pool.
fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cores * 2)
    })
}

/// Hashes a password into a PHC string. CPU-heavy: runs on the blocking pool.
pub async fn hash(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    let _slot = argon2_slots().acquire().await.map_err(AppError::internal)?;
    tokio::task::spawn_blocking(move || {
        hasher()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(anyhow::anyhow!("hashing: {e}")))
    })
    .await
    .map_err(AppError::internal)?
}

/// Whether `password` matches the PHC string `stored`. CPU-heavy: runs on the blocking pool.
pub async fn verify(password: &str, stored: &str) -> Result<bool, AppError> {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    let _slot = argon2_slots().acquire().await.map_err(AppError::internal)?;
    tokio::task::spawn_blocking(move || {
        // The parameters come from the stored string, so old hashes keep verifying.
        Ok(hasher()?
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok())
    })
    .await
    .map_err(AppError::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let stored = hash("correct horse battery").await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery", &stored).await.unwrap());
        assert!(!verify("wrong horse battery", &stored).await.unwrap());
    }

    #[test]
    fn hashes_with_old_parameters_need_a_rehash() {
        assert!(needs_rehash("$argon2id$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA"));
        assert!(!needs_rehash(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
        ));
    }

    #[test]
    fn length_rule_names_the_field() {
        assert!(validate("short", "password").is_err());
        assert!(validate("long enough", "password").is_ok());
        assert!(validate(&"x".repeat(129), "password").is_err());
    }
}
