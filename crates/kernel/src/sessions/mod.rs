//! Sessions: tower-sessions over the app's own `sessions` table, on either
//! backend, so any number of app instances share them. The user id is copied
//! out of the record into its own column, so "log out everywhere else" and
//! listing a user's sessions are one indexed query.
//!
//! Two expiries: idle (the cookie and row expire after [`IDLE_LIFETIME`]
//! without a request; [`refresh`] pushes it back as the session is used, at
//! most once per [`REFRESH_EVERY`]) and absolute (a session ends
//! [`ABSOLUTE_LIFETIME`] after it began, however active).

pub mod flash;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use time::{Duration, OffsetDateTime};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::config::Config;
use crate::db::Db;
use crate::error::AppError;
use crate::ids::UserId;
use crate::{on_backend, row};

pub const IDLE_LIFETIME: Duration = Duration::days(7);
pub const ABSOLUTE_LIFETIME: Duration = Duration::days(30);
/// The session key holding the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";
pub const COOKIE_NAME: &str = "session";
/// How often a session in use has its idle expiry pushed back (one write).
pub const REFRESH_EVERY: Duration = Duration::hours(1);
/// The session key holding when that last happened (unix seconds).
const REFRESHED_AT_KEY: &str = "refreshed_at";

/// The session layer: HttpOnly, SameSite=Lax, Secure in production.
pub fn layer(db: Db, config: &Config) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(DbSessionStore::new(db))
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.app_env.is_production())
        .with_expiry(Expiry::OnInactivity(IDLE_LIFETIME))
}

/// The request's session, for extractors (the session layer gives every
/// request one; without the layer, a 500).
///
/// # Errors
/// When the session layer is missing.
pub async fn of<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Session, AppError> {
    Session::from_request_parts(parts, state)
        .await
        .map_err(|(_, reason)| AppError::Internal(reason.to_owned()))
}

/// Middleware inside the session layer: tower-sessions saves a session (and
/// so moves its idle expiry) only when it changed, so this marks a session
/// in use as changed once per [`REFRESH_EVERY`]: a busy session costs one
/// write an hour instead of one per request. Visitors without a session
/// don't get one. A request whose door read the session in its own query
/// ([`read_in_scope`]) was refreshed there, and the record is not loaded.
pub async fn refresh(session: Session, mut request: Request, next: Next) -> Response {
    let read_in_scope = ReadInScope::default();
    request.extensions_mut().insert(read_in_scope.clone());
    let response = next.run(request).await;
    if read_in_scope.0.load(Ordering::Acquire) || session.is_empty().await {
        return response;
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let refreshed_at: Option<i64> = session.get(REFRESHED_AT_KEY).await.ok().flatten();
    if refreshed_at.is_none_or(|at| refresh_due(at, now))
        && let Err(error) = mark_refreshed(&session, now).await
    {
        tracing::warn!(%error, "cannot refresh the session's idle expiry");
    }
    response
}

/// Whether a session refreshed (or saved) at `since` has its idle expiry
/// pushed back at `now`: once per [`REFRESH_EVERY`].
fn refresh_due(since: i64, now: i64) -> bool {
    now - since >= REFRESH_EVERY.whole_seconds()
}

/// Marks the session changed, so that it is saved with a new idle expiry.
async fn mark_refreshed(session: &Session, now: i64) -> Result<(), tower_sessions::session::Error> {
    session.insert(REFRESHED_AT_KEY, now).await?;
    // Changed even if the record already said so (an artificial expiry, or
    // a refresh this same second): the save is the point.
    session.set_expiry(session.expiry());
    Ok(())
}

/// Set by [`read_in_scope`] for [`refresh`].
#[derive(Clone, Default)]
struct ReadInScope(Arc<AtomicBool>);

/// The FROM item through which a door reads its request's signed-in session
/// inside a tenant scope, in the scope's own query: columns `user_id`,
/// `impersonator`, `impersonation_ended` (the impersonator is no longer a
/// super-admin), `expires_at`, and `version` and `row_id` (on PostgreSQL
/// the row's `xmin` and `ctid`, for the door's memory; NULL on SQLite), one
/// row for a live, signed-in session and none otherwise. Binds `$2` the
/// session id and `$3`, `$4` the [`LiveBounds`]. On PostgreSQL it reads
/// the `current_session` view (migrations/postgres/0025_current_session.sql,
/// 0026 and 0034), since scopes have no right on the sessions table: the scope
/// must be opened with
/// `tenancy::for_tenant_reading_session`, which names the session the
/// view shows.
#[macro_export]
macro_rules! signed_in_session {
    (sqlite) => {
        "(SELECT s.user_id, s.impersonator, \
                 s.impersonator IS NOT NULL AND NOT EXISTS ( \
                     SELECT 1 FROM users a WHERE a.id = s.impersonator AND a.is_super_admin \
                 ) AS impersonation_ended, \
                 s.expires_at, NULL AS version, NULL AS row_id \
          FROM (SELECT user_id, json_extract(data, '$.impersonator') AS impersonator, expires_at \
                FROM sessions \
                WHERE id = $2 AND user_id IS NOT NULL AND expires_at > $3 AND created_at > $4) s)"
    };
    (postgres) => {
        "(SELECT user_id, impersonator, \
                 impersonator IS NOT NULL AND NOT EXISTS ( \
                     SELECT 1 FROM users a WHERE a.id = impersonator AND a.is_super_admin \
                 ) AS impersonation_ended, \
                 expires_at, version, row_id::text AS row_id FROM current_session \
          WHERE id = $2 AND expires_at > $3 AND created_at > $4)"
    };
}

/// What a live session is, now: its idle expiry after `now` and its start
/// after `started_after` (unix seconds; the absolute expiry).
#[derive(Clone, Copy, Debug)]
pub struct LiveBounds {
    pub now: i64,
    pub started_after: i64,
}

impl LiveBounds {
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            now: now.unix_timestamp(),
            started_after: (now - ABSOLUTE_LIFETIME).unix_timestamp(),
        }
    }
}

/// For a door that read the request's session through [`signed_in_session!`]
/// (so the record is not loaded): tells [`refresh`] so, and when the session
/// was last saved more than [`REFRESH_EVERY`] ago (`expires_at`, as read),
/// marks it changed, so that it is saved with a new idle expiry.
///
/// # Errors
/// When the session store fails.
pub async fn read_in_scope(
    parts: &mut Parts,
    session: &Session,
    expires_at: i64,
    bounds: LiveBounds,
) -> Result<(), AppError> {
    if let Some(read) = parts.extensions.get::<ReadInScope>() {
        read.0.store(true, Ordering::Release);
    }
    let saved_at = expires_at - IDLE_LIFETIME.whole_seconds();
    if refresh_due(saved_at, bounds.now) {
        mark_refreshed(session, bounds.now).await?;
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

row! {
    /// A live session, as the account page lists them.
    struct Stored {
        id: String,
        created_at: i64,
        expires_at: i64,
    }
}

row! {
    /// A session's data, as a request loads it.
    struct Loaded {
        data: String,
        expires_at: i64,
    }
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Removes sessions past either expiry.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let live = LiveBounds::now();
        on_backend!(&self.db, |pool| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR created_at <= $2")
                .bind(live.now)
                .bind(live.started_after)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
    }

    /// Ends every session of `user` but `keep` ("log out everywhere else").
    /// Returns how many ended.
    pub async fn delete_others(&self, user: UserId, keep: Id) -> Result<u64, sqlx::Error> {
        on_backend!(&self.db, |pool| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
                .bind(user)
                .bind(keep.to_string())
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
    }

    /// How many live sessions `user` has.
    pub async fn count_for_user(&self, user: UserId) -> Result<i64, sqlx::Error> {
        let live = LiveBounds::now();
        on_backend!(&self.db, |pool| {
            sqlx::query_scalar(
                "SELECT count(*) FROM sessions WHERE user_id = $1 AND expires_at > $2 AND created_at > $3",
            )
            .bind(user)
            .bind(live.now)
            .bind(live.started_after)
            .fetch_one(pool)
            .await
        })
    }

    /// The live sessions of `user`, newest first, each named by a handle
    /// (a digest of its id: the id itself is the cookie's value, never shown).
    pub async fn list_for_user(&self, user: UserId) -> Result<Vec<SessionInfo>, sqlx::Error> {
        let now = OffsetDateTime::now_utc();
        let rows: Vec<Stored> = on_backend!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT id, created_at, expires_at FROM sessions \
                 WHERE user_id = $1 AND expires_at > $2 AND created_at > $3 ORDER BY created_at DESC",
            )
            .bind(user)
            .bind(now.unix_timestamp())
            .bind((now - ABSOLUTE_LIFETIME).unix_timestamp())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| SessionInfo {
                handle: handle(&row.id),
                id: row.id,
                signed_in_at: OffsetDateTime::from_unix_timestamp(row.created_at).unwrap_or(now),
                // The idle expiry moves at most once per REFRESH_EVERY.
                last_active_at: OffsetDateTime::from_unix_timestamp(row.expires_at)
                    .map_or(now, |expires| expires - IDLE_LIFETIME),
            })
            .collect())
    }

    /// Ends the session of `user` with this handle; whether there was one.
    pub async fn delete_by_handle(&self, user: UserId, handle: &str) -> Result<bool, sqlx::Error> {
        let Some(session) = self
            .list_for_user(user)
            .await?
            .into_iter()
            .find(|session| session.handle == handle)
        else {
            return Ok(false);
        };
        on_backend!(&self.db, |pool| {
            sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
                .bind(&session.id)
                .bind(user)
                .execute(pool)
                .await
                .map(|done| done.rows_affected() == 1)
        })
    }

    /// Runs an INSERT of `row` (create and save differ only in what happens
    /// on an id conflict); `created_at` is now. Returns the rows written.
    async fn insert(&self, row: Row, sql: &'static str) -> session_store::Result<u64> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        on_backend!(&self.db, |pool| {
            sqlx::query(sql)
                .bind(row.id)
                .bind(row.user_id)
                .bind(row.data)
                .bind(now)
                .bind(row.expires_at)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(backend_error)
    }
}

/// One of a user's sessions, as the account page lists it.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The session id: the cookie's value, never sent to a page.
    id: String,
    /// A public name for the session (the start of a digest of its id).
    pub handle: String,
    pub signed_in_at: OffsetDateTime,
    /// Within an hour.
    pub last_active_at: OffsetDateTime,
}

impl SessionInfo {
    pub fn is(&self, id: Id) -> bool {
        self.id == id.to_string()
    }
}

fn handle(id: &str) -> String {
    let mut digest = crate::tokens::digest(id);
    digest.truncate(16);
    digest
}

/// What goes into the row for one record.
struct Row {
    id: String,
    user_id: Option<UserId>,
    data: String,
    expires_at: i64,
}

impl Row {
    fn from_record(record: &Record) -> session_store::Result<Self> {
        let user_id = record
            .data
            .get(USER_ID_KEY)
            .and_then(|value| value.as_str())
            .and_then(|text| text.parse().ok());
        Ok(Self {
            id: record.id.to_string(),
            user_id,
            data: serde_json::to_string(&record.data)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?,
            expires_at: record.expiry_date.unix_timestamp(),
        })
    }
}

fn backend_error(error: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    /// Inserts without overwriting: on the (astronomically unlikely) clash of
    /// two random 128-bit ids, picks another id instead of taking over
    /// someone else's session.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let inserted = self
                .insert(
                    Row::from_record(record)?,
                    "INSERT INTO sessions (id, user_id, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .await?;
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.insert(
            Row::from_record(record)?,
            "INSERT INTO sessions (id, user_id, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, \
             expires_at = excluded.expires_at",
        )
        .await
        .map(drop)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let live = LiveBounds::now();
        let row: Option<Loaded> = on_backend!(&self.db, |pool| {
            sqlx::query_as("SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2 AND created_at > $3")
                .bind(id.to_string())
                .bind(live.now)
                .bind(live.started_after)
                .fetch_optional(pool)
                .await
        })
        .map_err(backend_error)?;
        let Some(Loaded { data, expires_at }) = row else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: OffsetDateTime::from_unix_timestamp(expires_at)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        on_backend!(&self.db, |pool| {
            sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(id.to_string())
                .execute(pool)
                .await
                .map(drop)
        })
        .map_err(backend_error)
    }
}
