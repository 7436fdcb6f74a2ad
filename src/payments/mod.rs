//! Payments: an invoice paid by M-Pesa STK push. `payInvoice` asks Daraja to prompt the
//! customer's phone; Safaricom's callback (or, when it is lost, STK Query) tells the
//! outcome; a successful payment settles the invoice ([`crate::billing::lifecycle::pay`]).
//! Money is never lost or counted twice: the callback is stored before anything else,
//! processing is idempotent on Daraja's `CheckoutRequestID` and M-Pesa's receipt (both
//! unique), and whatever does not add up is flagged for review, never settled.

pub mod callbacks;
pub mod dunning;
pub mod live;
pub mod mpesa;
pub mod pay;
pub mod reconcile;

use chrono::{DateTime, Utc};

/// Where a payment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The prompt went out; no answer yet.
    Pending,
    /// Paid: the invoice is settled with it.
    Succeeded,
    /// Refused (insufficient balance, unreachable, wrong PIN, …) or could not be sent.
    Failed,
    /// The customer cancelled the prompt.
    Cancelled,
    /// No answer in time.
    TimedOut,
}

impl PaymentStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::TimedOut => "TIMED_OUT",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            "TIMED_OUT" => Self::TimedOut,
            _ => Self::Pending,
        }
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }

    /// The status a Daraja `ResultCode` means.
    pub fn of_result(code: i32) -> Self {
        match code {
            0 => Self::Succeeded,
            1032 => Self::Cancelled,
            1019 => Self::TimedOut,
            _ => Self::Failed,
        }
    }
}

/// A payment.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    /// Id.
    pub id: uuid::Uuid,
    /// Its tenant.
    pub tenant_id: uuid::Uuid,
    /// The invoice it pays.
    pub invoice_id: uuid::Uuid,
    /// Where it is.
    pub status: PaymentStatus,
    /// Currency.
    pub currency: String,
    /// What the customer was asked for, in minor units (whole shillings: M-Pesa takes no
    /// cents).
    pub amount_minor: i64,
    /// `amount_minor` less what was due (the rounding up to a whole shilling).
    pub rounding_minor: i64,
    /// The MSISDN prompted (`2547…`).
    pub phone: String,
    /// Daraja's `MerchantRequestID`.
    pub merchant_request_id: Option<String>,
    /// Daraja's `CheckoutRequestID`.
    pub checkout_request_id: Option<String>,
    /// M-Pesa's receipt, once paid.
    pub receipt_number: Option<String>,
    /// Daraja's `ResultCode`.
    pub result_code: Option<i32>,
    /// Daraja's `ResultDesc` (or the provider's error).
    pub result_desc: Option<String>,
    /// Why it needs a person's review, if it does.
    pub flag: Option<String>,
    /// When the push was asked for.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
}

/// The smallest whole-shilling amount covering `due_minor`, and what it adds.
pub fn whole_shillings(due_minor: i64) -> (i64, i64) {
    let amount = (due_minor + 99).div_euclid(100) * 100;
    (amount, amount - due_minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_up_to_whole_shillings_and_record_the_rounding() {
        assert_eq!(whole_shillings(174_000), (174_000, 0));
        assert_eq!(whole_shillings(174_001), (174_100, 99));
        assert_eq!(whole_shillings(148_050), (148_100, 50));
        assert_eq!(whole_shillings(1), (100, 99));
    }

    #[test]
    fn result_codes_map_to_statuses() {
        assert_eq!(PaymentStatus::of_result(0), PaymentStatus::Succeeded);
        assert_eq!(PaymentStatus::of_result(1032), PaymentStatus::Cancelled);
        assert_eq!(PaymentStatus::of_result(1019), PaymentStatus::TimedOut);
        for code in [1, 1037, 2001, 1001, 17] {
            assert_eq!(PaymentStatus::of_result(code), PaymentStatus::Failed);
        }
    }
}
