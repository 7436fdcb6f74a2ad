//! Outgoing mail: SMTP when configured, `.eml` files otherwise.

use super::ConfigError;
use super::vars::{Vars, invalid};

/// The mail settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL`: emails go out over SMTP when set, to `.eml` files otherwise.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM`: the sender of every email.
    pub from: String,
}

impl MailConfig {
    pub(super) fn parse(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let smtp_url = vars.url_of("SMTP_URL", &["smtp", "smtps"], "an smtp:// or smtps:// URL")?;
        let from = vars
            .get("MAIL_FROM")
            .unwrap_or_else(|| "Msingi <no-reply@localhost>".into());
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "MAIL_FROM",
                format!("expected an address like \"Msingi <no-reply@example.com>\", got {from:?}"),
            ));
        }
        Ok(Self { smtp_url, from })
    }
}
