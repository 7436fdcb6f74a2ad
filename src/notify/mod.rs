//! Notifications. For now: email delivery.

pub mod email;
