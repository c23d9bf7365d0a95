//! The door's memory, on PostgreSQL: what a person's tenant request read (the
//! session's expiry, the tenant with its billing state, the membership),
//! with the versions of the three rows it came from, per session and
//! tenant. The next request of that session in that tenant opens its scope
//! only if the rows are still those versions (checked in the scope's opening
//! statement, [`crate::tenancy::for_tenant_if_unchanged`]), and skips the
//! door's query: one round trip fewer. Anything that changed, whichever
//! instance changed it, shows on the very next request, since the database
//! answers every time; this memory only saves asking for the details.
//!
//! One memory for the process: every entry is checked against the database
//! it came from before it is believed, and its key (a session's secret and
//! a tenant's id, both random) names one session of one database.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::billing::state::BillingState;
use crate::ids::TenantId;
use crate::tenancy::{Member, RowVersions, Tenant};

/// At most this many sessions × tenants; when full, the entries past
/// [`MAX_AGE`] go, and if that is not enough, all of them (each forgotten
/// session pays one full door on its next request).
const CAPACITY: usize = 10_000;

/// An entry is believed (once checked) for this long, then read again in
/// full: a row version is a 32-bit transaction id, which PostgreSQL hands
/// out again after about four billion transactions (or after a restore to
/// an earlier point), and no entry may live that long.
const MAX_AGE: Duration = Duration::from_secs(300);

/// What the door read, as it read it.
#[derive(Clone, Debug)]
pub(super) struct Remembered {
    pub versions: RowVersions,
    pub expires_at: i64,
    pub tenant: Tenant,
    pub billing: BillingState,
    pub member: Member,
}

type Key = (String, TenantId);

static MEMORY: LazyLock<Mutex<HashMap<Key, (Instant, Remembered)>>> = LazyLock::new(Mutex::default);

fn memory() -> std::sync::MutexGuard<'static, HashMap<Key, (Instant, Remembered)>> {
    // A panic while holding the lock leaves nothing half-written: each
    // operation is one map call.
    MEMORY.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn recall(session_id: &str, tenant: TenantId) -> Option<Remembered> {
    memory()
        .get(&(session_id.to_owned(), tenant))
        .filter(|(at, _)| at.elapsed() < MAX_AGE)
        .map(|(_, remembered)| remembered.clone())
}

pub(super) fn remember(session_id: &str, tenant: TenantId, remembered: Remembered) {
    let mut memory = memory();
    if memory.len() >= CAPACITY {
        memory.retain(|_, (at, _)| at.elapsed() < MAX_AGE);
    }
    if memory.len() >= CAPACITY {
        memory.clear();
    }
    memory.insert(
        (session_id.to_owned(), tenant),
        (Instant::now(), remembered),
    );
}

pub(super) fn forget(session_id: &str, tenant: TenantId) {
    memory().remove(&(session_id.to_owned(), tenant));
}
