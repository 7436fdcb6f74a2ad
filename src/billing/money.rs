//! Amounts: `i64` minor units with an ISO currency; the API shows them as decimal strings.

use crate::error::AppError;

/// Every supported currency has two decimal places (KES, USD, …).
const MINOR_DIGITS: u32 = 2;

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Minor units (cents): 150000 is KES 1,500.00.
    pub minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
}

impl Money {
    /// `minor` units of `currency`.
    pub fn new(minor: i64, currency: &str) -> Self {
        Self {
            minor,
            currency: currency.to_owned(),
        }
    }

    /// The decimal string: `"1500.00"`, `"-12.05"`.
    pub fn decimal(&self) -> String {
        decimal(self.minor)
    }
}

/// `minor` units as a decimal string with two places.
pub fn decimal(minor: i64) -> String {
    let scale = 10i64.pow(MINOR_DIGITS);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:02}",
        abs / scale.unsigned_abs(),
        abs % scale.unsigned_abs()
    )
}

/// Parses a decimal string (`"1500"`, `"1500.5"`, `"1500.50"`) into minor units; at most two
/// decimal places, not negative. Errors name `field`.
pub fn parse_amount(text: &str, field: &'static str) -> Result<i64, AppError> {
    let bad = |why: &str| AppError::bad_input(field, why.to_owned());
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("must be a decimal amount such as 1500.00"));
    }
    if fraction.len() > MINOR_DIGITS as usize {
        return Err(bad("at most two decimal places"));
    }
    let whole: i64 = whole.parse().map_err(|_| bad("too large"))?;
    let fraction: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
    whole
        .checked_mul(10i64.pow(MINOR_DIGITS))
        .and_then(|w| w.checked_add(fraction))
        .filter(|m| *m <= 1_000_000_000_000)
        .ok_or_else(|| bad("too large"))
}

/// Parses an ISO 4217 currency code (three letters); upper-cased.
pub fn parse_currency(text: &str, field: &'static str) -> Result<String, AppError> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(AppError::bad_input(
            field,
            "must be a three-letter ISO 4217 code such as KES".to_owned(),
        ))
    }
}

impl std::fmt::Display for Money {
    /// `KES 1740.00`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.currency, self.decimal())
    }
}

/// `"16"` or `"16.5"` percent as basis points (1600, 1650).
pub fn parse_percent(text: &str) -> Option<i32> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || fraction.len() > 2 {
        return None;
    }
    let whole: i32 = whole.parse().ok()?;
    let fraction: i32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<2}").parse().ok()?
    };
    let bp = whole.checked_mul(100)?.checked_add(fraction)?;
    (0..=10_000).contains(&bp).then_some(bp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_exactly_in_minor_units() {
        assert_eq!(parse_amount("1500", "price").unwrap(), 150_000);
        assert_eq!(parse_amount("1500.5", "price").unwrap(), 150_050);
        assert_eq!(parse_amount("0.07", "price").unwrap(), 7);
        assert_eq!(decimal(150_000), "1500.00");
        assert_eq!(decimal(-1205), "-12.05");
        assert_eq!(decimal(7), "0.07");
        for bad in [
            "",
            "-1",
            "1.234",
            "1,500",
            "abc",
            "1e3",
            "99999999999999999",
        ] {
            assert!(parse_amount(bad, "price").is_err(), "{bad:?}");
        }
        assert_eq!(parse_currency("kes", "currency").unwrap(), "KES");
        assert!(parse_currency("KESH", "currency").is_err());
    }
}
