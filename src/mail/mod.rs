//! Email. Each email is a struct with two askama templates, an HTML one
//! (its `Template` derive) and a text one (declared with [`text_body!`]).
//! [`send`] renders both and queues the result as a job (the outbox), so a
//! request never waits on SMTP and an outage delays mail without losing it.
//!
//! Delivery ([`Mailer`]) goes over SMTP when `SMTP_URL` is set. In
//! development every email is also written to the log and kept for the
//! `/dev/mailbox` page ([`dev_mailbox`]); in production without `SMTP_URL`,
//! emails wait in the queue (retried with backoff) until it is set.

pub mod dev_mailbox;

use std::sync::Arc;

use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::accounts::email::Email;
use crate::config::{AppEnv, Config};
use crate::db::Db;
use crate::error::AppError;
use crate::jobs::{self, Job, JobError};
use crate::tenancy::TenantScope;
use dev_mailbox::DevMailbox;

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

/// An email's content: the `Template` derive renders its HTML body,
/// [`text_body!`] its text body.
pub trait Mail: askama::Template + TextBody {
    fn subject(&self) -> String;
}

/// The plain-text body, implemented by [`text_body!`].
pub trait TextBody {
    /// # Errors
    /// When the template fails to render (a bug).
    fn text(&self) -> askama::Result<String>;
}

/// Declares an email's text template: `text_body!(PasswordReset,
/// "mail/password_reset.txt")` renders that file with the struct's fields.
#[macro_export]
macro_rules! text_body {
    ($mail:ty, $path:literal) => {
        const _: () = {
            #[derive(askama::Template)]
            #[template(path = $path)]
            struct Text<'a>(&'a $mail);

            impl std::ops::Deref for Text<'_> {
                type Target = $mail;
                fn deref(&self) -> &$mail {
                    self.0
                }
            }

            impl $crate::mail::TextBody for $mail {
                fn text(&self) -> askama::Result<String> {
                    askama::Template::render(&Text(self))
                }
            }
        };
    };
}

/// `mail` to `to`, rendered.
///
/// # Errors
/// When a template fails (a bug).
pub fn render(to: &Email, mail: &impl Mail) -> Result<Outgoing, AppError> {
    Ok(Outgoing {
        to: to.as_str().to_owned(),
        subject: mail.subject(),
        text: mail.text()?,
        html: mail.render()?,
        attachments: Vec::new(),
    })
}

fn compose(to: &Email, mail: &impl Mail) -> Result<Job, AppError> {
    Ok(Job::SendEmail(render(to, mail)?))
}

/// Queues `mail` to `to`.
///
/// # Errors
/// When a template fails or the database does.
pub async fn send(db: &Db, to: &Email, mail: &impl Mail) -> Result<(), AppError> {
    jobs::enqueue(db, None, &compose(to, mail)?).await?;
    Ok(())
}

/// Queues `mail` to `to` in the scope's transaction: it goes out only if
/// the scope commits.
///
/// # Errors
/// When a template fails or the database does.
pub async fn send_in(
    scope: &mut TenantScope,
    to: &Email,
    mail: &impl Mail,
) -> Result<(), AppError> {
    jobs::enqueue_in(scope, &compose(to, mail)?).await?;
    Ok(())
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
    pub async fn deliver(&self, email: &Outgoing) -> Result<(), JobError> {
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

    fn message(&self, email: &Outgoing) -> Result<Message, JobError> {
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

/// Checks `SMTP_URL` as the configuration is read.
///
/// # Errors
/// What is wrong with it.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(drop)
        .map_err(|e| {
            format!("expected smtp://, smtps:// or smtp://…?tls=required with a host: {e}")
        })
}

/// Checks `MAIL_FROM` as the configuration is read.
///
/// # Errors
/// What is wrong with it.
pub fn check_mail_from(from: &str) -> Result<(), String> {
    from.parse::<Mailbox>()
        .map(drop)
        .map_err(|e| format!("expected an address such as \"Acme <hello@acme.test>\": {e}"))
}
