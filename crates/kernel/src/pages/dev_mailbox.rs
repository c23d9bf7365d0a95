//! Development's mailbox, at `/dev/mailbox`: the last emails the app sent
//! (`mail::dev_mailbox`). In production the mailer keeps none and the pages
//! answer 404, like any path that doesn't exist.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;

use super::{Layout, render};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::routes::{Access, Routes, get};
use crate::mail::dev_mailbox::{DevMailbox, Kept};

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
