//! Development's mailbox: the last emails the app sent, at `/dev/mailbox`,
//! so sign-up, reset and invitation links can be followed without an SMTP
//! server. In production the mailer keeps none and the pages answer 404,
//! like any path that doesn't exist.

use std::collections::VecDeque;
use std::sync::Mutex;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use time::OffsetDateTime;

use super::Outgoing;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::routes::{Access, Routes, get};
use crate::pages::{Layout, render};

/// How many emails the mailbox keeps; older ones drop off.
const KEPT: usize = 50;

#[derive(Default)]
pub struct DevMailbox {
    emails: Mutex<VecDeque<Kept>>,
}

#[derive(Clone)]
pub struct Kept {
    /// Counts up from 1 since start-up.
    pub number: u64,
    pub sent_at: OffsetDateTime,
    pub email: Outgoing,
}

impl DevMailbox {
    pub(super) fn keep(&self, email: Outgoing) {
        let mut emails = self
            .emails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let number = emails.front().map_or(1, |newest| newest.number + 1);
        emails.push_front(Kept {
            number,
            sent_at: OffsetDateTime::now_utc(),
            email,
        });
        emails.truncate(KEPT);
    }

    /// Newest first.
    pub fn emails(&self) -> Vec<Kept> {
        let emails = self
            .emails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        emails.iter().cloned().collect()
    }
}

pub fn routes() -> Routes {
    Routes::new()
        .add("/dev/mailbox", Access::Public, get(index))
        .add("/dev/mailbox/{number}", Access::Public, get(html_body))
}

fn mailbox(state: &AppState) -> Result<&DevMailbox, AppError> {
    state
        .mailer
        .dev_mailbox
        .as_deref()
        .ok_or(AppError::NotFound)
}

#[derive(Template)]
#[template(path = "dev/mailbox.html")]
struct MailboxPage {
    layout: Layout,
    emails: Vec<Kept>,
}

async fn index(State(state): State<AppState>, layout: Layout) -> Result<Html<String>, AppError> {
    let emails = mailbox(&state)?.emails();
    render(&MailboxPage { layout, emails })
}

/// One email's HTML body, as a mail client would show it.
async fn html_body(
    State(state): State<AppState>,
    Path(number): Path<u64>,
) -> Result<Html<String>, AppError> {
    mailbox(&state)?
        .emails()
        .into_iter()
        .find(|kept| kept.number == number)
        .map(|kept| Html(kept.email.html))
        .ok_or(AppError::NotFound)
}
