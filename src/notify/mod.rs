//! Notifications: email delivery, and in-app notifications.

pub mod email;
pub mod notifications;
pub mod templates;
