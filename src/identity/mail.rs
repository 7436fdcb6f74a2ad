//! The emails identity sends, rendered when the job is written. Links point at the SPA
//! (`APP_URL`), which calls the matching mutation with the token.

use msingi_jobs::SendEmail;

use crate::identity::Email;
use crate::ids::TenantId;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
    /// The message in a few sentences (what an in-app notification shows).
    pub summary: String,
    /// Its one link.
    pub link: String,
    /// Ids of what it is about (e.g. `invoiceId`), for the in-app notification's `data`.
    pub refs: serde_json::Map<String, serde_json::Value>,
}

impl Mail {
    /// The same mail, saying it is about `key` = `value` (e.g. `invoiceId`).
    pub fn about(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.refs.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or_default(),
        );
        self
    }

    /// The job that sends this mail to `to`.
    pub fn to_job(self, to: &Email, tenant: Option<TenantId>) -> SendEmail {
        SendEmail {
            message_id: uuid::Uuid::new_v4(),
            tenant_id: tenant.map(TenantId::into_uuid),
            to: to.as_str().to_owned(),
            subject: self.subject,
            text: self.text,
            html: self.html,
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A link to the SPA page `path` carrying `token`.
pub fn link(app_url: &str, path: &str, token: &str) -> String {
    format!("{app_url}/{path}?token={token}")
}

pub(crate) fn render(
    subject: String,
    greeting: &str,
    body: &str,
    action: &str,
    link: &str,
    footer: &str,
) -> Mail {
    let text = format!("{greeting}\n\n{body}\n\n{action}: {link}\n\n{footer}\n");
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>{}</p><p>{}</p><p><a href=\"{}\">{}</a></p><p style=\"color:#666\">{}</p>\
         </body></html>",
        escape(greeting),
        escape(body),
        escape(link),
        escape(action),
        escape(footer)
    );
    Mail {
        subject,
        text,
        html,
        summary: body.to_owned(),
        link: link.to_owned(),
        refs: serde_json::Map::new(),
    }
}

/// Confirm your address.
pub fn verify_email(name: &str, link: &str) -> Mail {
    render(
        "Confirm your email address".into(),
        &format!("Hello {name},"),
        "Please confirm that this is your email address. The link works once, for 24 hours.",
        "Confirm my email address",
        link,
        "If you did not create an account, ignore this email.",
    )
}

/// Someone tried to register with an address that has an account.
pub fn account_exists(name: &str, link: &str) -> Mail {
    render(
        "Someone tried to sign up with your email address".into(),
        &format!("Hello {name},"),
        "Someone tried to create a new Msingi account with this email address, which already has one. If it was you, log in instead, or reset your password here.",
        "Reset my password",
        link,
        "If it was not you, ignore this email: nothing was changed.",
    )
}

/// Reset your password.
pub fn reset_password(name: &str, link: &str) -> Mail {
    render(
        "Reset your password".into(),
        &format!("Hello {name},"),
        "Someone asked to reset the password of your account. The link works once, for one hour, and signs you out everywhere.",
        "Choose a new password",
        link,
        "If it was not you, ignore this email: your password stays as it is.",
    )
}

/// Join a tenant.
pub fn invitation(tenant_name: &str, inviter: &str, link: &str) -> Mail {
    render(
        format!("You are invited to join {tenant_name}"),
        "Hello,",
        &format!(
            "{inviter} invited you to join {tenant_name} on Msingi. The invitation is valid for 7 days."
        ),
        "Accept the invitation",
        link,
        "If you do not know this team, ignore this email.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_the_link_is_in_both_parts() {
        let mail = invitation(
            "<script>Duka</script>",
            "Wanjiru",
            "http://spa/accept-invitation?token=inv_x",
        );
        assert!(mail.html.contains("&lt;script&gt;"));
        assert!(!mail.html.contains("<script>"));
        assert!(
            mail.text
                .contains("http://spa/accept-invitation?token=inv_x")
        );
        assert!(
            mail.html
                .contains("http://spa/accept-invitation?token=inv_x")
        );
    }
}
