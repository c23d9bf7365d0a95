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
pub mod transport;

use crate::accounts::email::Email;
use crate::db::Db;
use crate::error::AppError;
use crate::jobs::{self, Job};
use crate::tenancy::TenantScope;
use transport::Outgoing;

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
