//! Email addresses, validated once and stored lower-cased.

use crate::error::AppError;

/// A syntactically valid email address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Validates an address; `field` names the argument in the error.
    pub fn parse(value: &str, field: &str) -> Result<Self, AppError> {
        let value = value.trim().to_lowercase();
        if value.len() <= 254 && value.parse::<lettre::Address>().is_ok() {
            Ok(Self(value))
        } else {
            Err(AppError::bad_input(field, "not a valid email address"))
        }
    }

    /// Wraps an address read from the database.
    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_validated_and_lower_cased() {
        assert_eq!(
            Email::parse(" Wanjiru@Example.COM ", "email")
                .unwrap()
                .as_str(),
            "wanjiru@example.com"
        );
        for bad in ["", "no-at-sign", "a@", "@b.c", "a b@c.d"] {
            assert!(Email::parse(bad, "email").is_err(), "{bad}");
        }
    }
}
