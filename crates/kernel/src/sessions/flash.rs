//! Flash messages: a note for the next page a user sees ("Saved."), kept in
//! the session so it survives the redirect after a form post. The layout
//! takes and shows them.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

const KEY: &str = "flash";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Success,
    Info,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub level: Level,
    pub message: String,
}

impl Flash {
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            level: Level::Success,
            message: message.into(),
        }
    }

    pub fn info(message: impl Into<String>) -> Self {
        Self {
            level: Level::Info,
            message: message.into(),
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            level: Level::Error,
            message: message.into(),
        }
    }
}

/// Queues a message for the next page.
///
/// # Errors
/// When the session can't be read or written.
pub async fn push(session: &Session, flash: Flash) -> Result<(), tower_sessions::session::Error> {
    let mut pending: Vec<Flash> = session.get(KEY).await?.unwrap_or_default();
    pending.push(flash);
    session.insert(KEY, pending).await
}

/// Takes every queued message, so each is shown once. With none queued the
/// session is left untouched (removing a key marks it changed, which would
/// cost a write on every page).
///
/// # Errors
/// When the session can't be read or written.
pub async fn take(session: &Session) -> Result<Vec<Flash>, tower_sessions::session::Error> {
    if session.get_value(KEY).await?.is_none() {
        return Ok(Vec::new());
    }
    Ok(session.remove(KEY).await?.unwrap_or_default())
}
