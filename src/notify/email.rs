//! Email delivery through lettre: SMTP when `SMTP_URL` is set, `.eml` files in
//! `data/outbox` otherwise. Mail is only ever sent by the `emails` job
//! ([`msingi_jobs::SendEmail`]), never inside a request.

use std::path::PathBuf;

use anyhow::Context as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use msingi_jobs::SendEmail;

use crate::config::Config;

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// The pooled transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// Sender.
        from: Mailbox,
    },
    /// `.eml` files in a directory (with `.json` envelopes beside them).
    Files {
        /// The directory.
        dir: PathBuf,
        /// Sender.
        from: Mailbox,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { .. } => f.write_str("Mailer::Smtp"),
            Self::Files { dir, .. } => write!(f, "Mailer::Files({})", dir.display()),
        }
    }
}

impl Mailer {
    /// The mailer the configuration asks for.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let from: Mailbox = config.mail.from.parse().context("MAIL_FROM")?;
        match &config.mail.smtp_url {
            Some(url) => Ok(Self::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("SMTP_URL")?
                    .build(),
                from,
            }),
            None => {
                let dir = config.mail_outbox_dir();
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating the mail outbox {}", dir.display()))?;
                Ok(Self::Files { dir, from })
            }
        }
    }

    /// Builds and sends one message with a text and an HTML part.
    pub async fn send(&self, email: &SendEmail) -> anyhow::Result<()> {
        let from = match self {
            Self::Smtp { from, .. } | Self::Files { from, .. } => from.clone(),
        };
        let host = from.email.domain().to_owned();
        let message = Message::builder()
            .from(from)
            .to(email.to.parse().context("recipient address")?)
            .subject(&email.subject)
            .message_id(Some(format!("<{}@{}>", email.message_id, host)))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .context("building the message")?;
        match self {
            Self::Smtp { transport, .. } => {
                transport.send(message).await.context("SMTP delivery")?;
            }
            Self::Files { dir, .. } => {
                AsyncFileTransport::<Tokio1Executor>::with_envelope(dir)
                    .send(message)
                    .await
                    .context("writing the .eml file")?;
            }
        }
        Ok(())
    }
}

/// The `emails` job handler.
pub async fn send_email(
    job: SendEmail,
    mailer: &Mailer,
) -> Result<(), apalis::prelude::BoxDynError> {
    mailer.send(&job).await.map_err(|e| {
        tracing::warn!(message_id = %job.message_id, error = format!("{e:#}"), "email delivery failed");
        e.into()
    })
}
