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

use crate::billing::state::BillingState;
use crate::ids::TenantId;
use crate::tenancy::{Member, RowVersions, Tenant};

/// At most this many sessions × tenants; when full, it starts again empty
/// (each forgotten session pays one full door on its next request).
const CAPACITY: usize = 10_000;

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

static MEMORY: LazyLock<Mutex<HashMap<Key, Remembered>>> = LazyLock::new(Mutex::default);

fn memory() -> std::sync::MutexGuard<'static, HashMap<Key, Remembered>> {
    // A panic while holding the lock leaves nothing half-written: each
    // operation is one map call.
    MEMORY.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn recall(session_id: &str, tenant: TenantId) -> Option<Remembered> {
    memory().get(&(session_id.to_owned(), tenant)).cloned()
}

pub(super) fn remember(session_id: &str, tenant: TenantId, remembered: Remembered) {
    let mut memory = memory();
    if memory.len() >= CAPACITY {
        memory.clear();
    }
    memory.insert((session_id.to_owned(), tenant), remembered);
}

pub(super) fn forget(session_id: &str, tenant: TenantId) {
    memory().remove(&(session_id.to_owned(), tenant));
}
