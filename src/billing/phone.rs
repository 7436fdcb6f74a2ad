//! Kenyan mobile numbers (MSISDNs) as M-Pesa takes them: `2547XXXXXXXX` or `2541XXXXXXXX`.

use crate::error::AppError;

/// Normalises `07…`, `01…`, `+254…`, `254…` (spaces and dashes allowed) to `254…` (12
/// digits); anything else is BAD_USER_INPUT naming `field`.
pub fn normalise_msisdn(text: &str, field: &'static str) -> Result<String, AppError> {
    let digits: String = text
        .trim()
        .trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    let bad = || {
        AppError::bad_input(
            field,
            "a Kenyan mobile number such as 0712345678 or +254712345678",
        )
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let national = if let Some(rest) = digits.strip_prefix("254") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest.to_owned()
    } else {
        return Err(bad());
    };
    if national.len() == 9 && (national.starts_with('7') || national.starts_with('1')) {
        Ok(format!("254{national}"))
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_usual_way_of_writing_a_number_becomes_one() {
        for written in [
            "0712345678",
            "+254712345678",
            "254712345678",
            "0712 345 678",
            "+254-712-345-678",
        ] {
            assert_eq!(
                normalise_msisdn(written, "phone").unwrap(),
                "254712345678",
                "{written}"
            );
        }
        assert_eq!(
            normalise_msisdn("0110345678", "phone").unwrap(),
            "254110345678"
        );
        for bad in [
            "",
            "712345678",
            "07123456789",
            "0812345678",
            "+1 202 555 0100",
            "07x2345678",
        ] {
            assert!(normalise_msisdn(bad, "phone").is_err(), "{bad:?}");
        }
    }
}
