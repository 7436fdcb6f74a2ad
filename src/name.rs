//! Names people give things (a person, a tenant, a store, a role, a key): one rule for all.

use crate::error::{AppError, AppResult};

/// A display name: trimmed, 1 to a limit of characters (200 unless the thing is shorter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Longest name unless a shorter limit applies.
    pub const MAX: usize = 200;

    /// Parses a name of at most [`Name::MAX`] characters; the error names `field`.
    pub fn parse(value: &str, field: &str) -> AppResult<Self> {
        Self::parse_at_most(value, field, Self::MAX)
    }

    /// Parses a name of at most `max` characters; the error names `field`.
    pub fn parse_at_most(value: &str, field: &str, max: usize) -> AppResult<Self> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > max {
            return Err(AppError::bad_input(
                field,
                format!("must be 1 to {max} characters"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded_with_the_field_named() {
        assert_eq!(
            Name::parse("  Duka  ", "input.name").unwrap().as_str(),
            "Duka"
        );
        let err = Name::parse("   ", "input.name").unwrap_err();
        assert!(matches!(err, AppError::BadInput { ref field, .. } if field == "input.name"));
        assert!(Name::parse(&"x".repeat(200), "f").is_ok());
        assert!(Name::parse(&"x".repeat(201), "f").is_err());
        let err = Name::parse_at_most(&"x".repeat(61), "input.name", 60).unwrap_err();
        assert!(err.to_string().contains("1 to 60"), "{err}");
    }
}
