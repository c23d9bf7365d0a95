//! Delivery: the rendered email the outbox stores ([`Outgoing`]) and the
//! [`Mailer`] that sends it, over SMTP when `SMTP_URL` is set, and in
//! development into the log and the [`DevMailbox`].

use std::sync::Arc;

use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::dev_mailbox::DevMailbox;
use crate::config::{AppEnv, Config};

/// Why a delivery failed (the job retries it).
pub type DeliveryError = Box<dyn std::error::Error + Send + Sync>;

/// A rendered email, as the outbox stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Files sent with it (a scheduled job's report; the outbox's emails
    /// carry none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// Delivers what the outbox holds.
pub struct Mailer {
    from: Mailbox,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// Development only.
    pub dev_mailbox: Option<Arc<DevMailbox>>,
}

impl Mailer {
    /// # Panics
    /// Never for a `Config` that parsed: it checked `SMTP_URL` and `MAIL_FROM`.
    pub fn new(config: &Config) -> Self {
        let smtp = config.smtp_url.as_ref().map(|url| {
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .expect("SMTP_URL was checked when the configuration was read")
                .build()
        });
        Self {
            from: config.mail_from.parse().expect("MAIL_FROM was checked"),
            smtp,
            dev_mailbox: (config.app_env == AppEnv::Development).then(Arc::default),
        }
    }

    /// Sends one email. In development it is also logged and kept for
    /// `/dev/mailbox`, whether or not SMTP is configured.
    ///
    /// # Errors
    /// When the SMTP server can't be reached or refuses the email, or, in
    /// production, when `SMTP_URL` is not set (the job waits and retries).
    pub async fn deliver(&self, email: &Outgoing) -> Result<(), DeliveryError> {
        match (&self.smtp, &self.dev_mailbox) {
            (Some(smtp), _) => {
                smtp.send(self.message(email)?).await?;
            }
            (None, Some(_)) => {}
            (None, None) => return Err("SMTP_URL is not set: the email waits in the queue".into()),
        }
        if let Some(mailbox) = &self.dev_mailbox {
            tracing::info!(to = %email.to, subject = %email.subject, body = %email.text, "email (development: see /dev/mailbox)");
            mailbox.keep(email.clone());
        }
        Ok(())
    }

    fn message(&self, email: &Outgoing) -> Result<Message, DeliveryError> {
        let body = MultiPart::alternative_plain_html(email.text.clone(), email.html.clone());
        let builder = Message::builder()
            .from(self.from.clone())
            .to(email.to.parse()?)
            .subject(&email.subject);
        if email.attachments.is_empty() {
            return Ok(builder.multipart(body)?);
        }
        let mut mixed = MultiPart::mixed().multipart(body);
        for file in &email.attachments {
            mixed = mixed.singlepart(
                MimeAttachment::new(file.filename.clone())
                    .body(file.content.clone(), file.content_type.parse()?),
            );
        }
        Ok(builder.multipart(mixed)?)
    }
}
