//! Development's mailbox: the last emails the app sent, kept for the
//! `/dev/mailbox` pages (`pages::dev_mailbox`), so sign-up, reset and
//! invitation links can be followed without an SMTP server. In production
//! the mailer keeps none.

use std::collections::VecDeque;
use std::sync::Mutex;

use time::OffsetDateTime;

use super::transport::Outgoing;

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
