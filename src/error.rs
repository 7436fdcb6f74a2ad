//! The one application error, and what the client sees of it.
//!
//! Doctrine:
//! - Every failure a client can act on is a variant here, with the code it maps to. The
//!   `Display` text of a variant is what the client reads, so it never contains an internal
//!   cause, SQL, a path or a secret.
//! - Anything else is [`AppError::Internal`]: the client reads a generic message and a
//!   request id; the cause goes to the log under that request id.
//! - Another tenant's object is [`AppError::NotFound`], never `Forbidden`: existence does
//!   not leak across tenants.
//! - The GraphQL layer never formats errors itself: `graphql::errors` maps every resolver
//!   error through [`AppError::code`] and [`AppError::extensions`], and turns any error it
//!   does not recognise into `INTERNAL`.

use sea_orm::{DbErr, SqlErr};

/// Why a request failed, as the client is told.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// `UNAUTHENTICATED`: no credentials, or credentials that are not (or no longer) valid.
    #[error("authentication required")]
    Unauthenticated,
    /// `UNAUTHENTICATED`: a login with an unknown email or a wrong password (one message
    /// for both, so accounts cannot be enumerated).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// `FORBIDDEN`: authenticated, but not allowed. `reason` (e.g. `TENANT_SUSPENDED`) is
    /// sent as `extensions.reason`.
    #[error("{message}")]
    Forbidden {
        /// What the client reads.
        message: String,
        /// A machine-readable reason, when there is one.
        reason: Option<&'static str>,
    },
    /// `NOT_FOUND`: no such object in the caller's tenant.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for (`store`, `role`, …).
        entity: &'static str,
    },
    /// `BAD_USER_INPUT`: an argument is invalid; `field` names it (`input.email`).
    #[error("{field}: {message}")]
    BadInput {
        /// The argument or input field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// `CONFLICT`: the change collides with existing state (a taken slug, a duplicate).
    #[error("{0}")]
    Conflict(String),
    /// `PLAN_LIMIT_EXCEEDED`: the tenant's plan does not allow more; `limit` (`stores`,
    /// `members`, a metric) and `max` go to `extensions.limit` and `extensions.max`.
    #[error("the {plan} plan allows {max} {limit}; upgrade the plan for more")]
    PlanLimitExceeded {
        /// The limit's name.
        limit: String,
        /// Its value on the plan.
        max: i64,
        /// The plan's name.
        plan: String,
    },
    /// `RATE_LIMITED`: too many attempts; `retry_after_secs` goes to `extensions.retryAfter`.
    #[error("too many attempts, try again in {retry_after_secs} seconds")]
    RateLimited {
        /// Seconds until a new attempt may succeed.
        retry_after_secs: u64,
    },
    /// `PAYMENT_PROVIDER_ERROR`: the payment provider refused or failed.
    #[error("{0}")]
    PaymentProvider(String),
    /// `INTERNAL`: anything else. Only the log sees the cause.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Shorthand for results of services and repositories.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The `extensions.code` the client sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => "UNAUTHENTICATED",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::PlanLimitExceeded { .. } => "PLAN_LIMIT_EXCEEDED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::PaymentProvider(_) => "PAYMENT_PROVIDER_ERROR",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// Extra `extensions` entries beyond `code` and `requestId`.
    pub fn extensions(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::BadInput { field, .. } => vec![("field", field.clone().into())],
            Self::Forbidden {
                reason: Some(reason),
                ..
            } => vec![("reason", (*reason).into())],
            Self::RateLimited { retry_after_secs } => {
                vec![("retryAfter", (*retry_after_secs).into())]
            }
            Self::PlanLimitExceeded { limit, max, .. } => {
                vec![("limit", limit.clone().into()), ("max", (*max).into())]
            }
            _ => Vec::new(),
        }
    }

    /// A `BAD_USER_INPUT` error on `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A `FORBIDDEN` error without a machine-readable reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
            reason: None,
        }
    }

    /// An `INTERNAL` error from any cause.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    /// Maps a unique-constraint violation to `CONFLICT` with `message`, anything else to
    /// `INTERNAL`. Use on the insert or update that a constraint guards.
    pub fn conflict_on_unique(err: DbErr, message: impl Into<String>) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict(message.into()),
            _ => Self::internal(err),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        Self::internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_show_their_cause() {
        let err = AppError::from(DbErr::Custom(
            "relation \"secret_table\" does not exist".into(),
        ));
        assert_eq!(err.code(), "INTERNAL");
        assert_eq!(err.to_string(), "internal error");
    }

    #[test]
    fn bad_input_names_the_field() {
        let err = AppError::bad_input("input.email", "not an email address");
        assert_eq!(err.code(), "BAD_USER_INPUT");
        assert_eq!(
            err.extensions(),
            vec![("field", serde_json::json!("input.email"))]
        );
    }
}
