//! Billing: plans, the tenant's subscription, money, the clock.

pub mod invoices;
pub mod plans;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};

/// A decimal amount as a string (`"1500.00"`), exact: never a floating-point number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Self(s)),
            // A JSON number is accepted as written (`1500`, `1500.5`); validation of the
            // amount happens where it is used, naming the field.
            Value::Number(n) => Ok(Self(n.to_string())),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// An amount of money.
#[derive(SimpleObject, Debug, Clone)]
pub struct Money {
    /// The amount, as a decimal string with two places (`"1500.00"`).
    amount: Decimal,
    /// ISO 4217 currency code (`KES`).
    currency: String,
}

impl From<crate::billing::Money> for Money {
    fn from(m: crate::billing::Money) -> Self {
        Self {
            amount: Decimal(m.decimal()),
            currency: m.currency,
        }
    }
}
