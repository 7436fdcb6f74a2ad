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

/// What the `emails` handler needs: the mailer, and the database its effects ledger is in.
#[derive(Debug, Clone)]
pub struct EmailDeps {
    /// Where mail goes.
    pub mailer: Mailer,
    /// The effects ledger.
    pub db: crate::db::Db,
}

/// The `emails` job handler. A message whose delivery is recorded is not sent again; the
/// record follows the SMTP server's acceptance at once, and the message carries the job's
/// id as its `Message-ID`, so the rare repeat (the worker killed in between) is
/// recognisable. A recipient that is not an address fails for good (a dead letter).
pub async fn send_email(
    job: SendEmail,
    deps: &EmailDeps,
) -> Result<(), apalis::prelude::BoxDynError> {
    if deps.db.job_effect_done(job.message_id).await? {
        tracing::info!(message_id = %job.message_id, "email already delivered: not sent again");
        return Ok(());
    }
    if job.to.parse::<Mailbox>().is_err() {
        return Err(Box::new(msingi_jobs::Permanent(format!(
            "the recipient {:?} is not an email address",
            job.to
        ))));
    }
    if let Err(e) = deps.mailer.send(&job).await {
        tracing::warn!(message_id = %job.message_id, error = format!("{e:#}"), "email delivery failed");
        return Err(e.into());
    }
    deps.db
        .record_job_effect(job.message_id, <SendEmail as msingi_jobs::Job>::NAME)
        .await?;
    Ok(())
}
