//! The owners' feed of edited shifts, newest first.

use askama::Template;
use axum::response::Html;
use time::OffsetDateTime;

use super::{Places, Tabs};
use crate::dates;
use crate::permissions::TimeAction;
use crate::shifts::{self, edits};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::routes::{Access, Routes, get};
use kernel::pages::{Layout, TenantNav, render};

pub(super) fn routes() -> Routes {
    Routes::new().add("/t/{slug}/time/edits", Access::Tenant, get(page))
}

#[derive(Template)]
#[template(path = "time_tracking/edits.html")]
struct EditFeedPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    edits: Vec<EditView>,
}

struct EditView {
    edit: edits::ShiftEdit,
    when: String,
    before: String,
    after: String,
}

/// A snapshot as "Fri 20 Nov 08:00–16:00 (8 h 0 min)".
fn describe(snapshot: Option<&edits::Snapshot>, places: &Places) -> String {
    let Some(s) = snapshot else {
        return "—".to_owned();
    };
    let zone = places.zone(s.location_id);
    let clock =
        |at: Option<OffsetDateTime>| at.map_or("?".to_owned(), |at| dates::clock(at, &zone));
    let day = s.start.or(s.end).map(|at| dates::local_date(at, &zone));
    format!(
        "{} {}–{} ({})",
        day.map(|d| d.to_string()).unwrap_or_default(),
        clock(s.start),
        clock(s.end),
        shifts::duration_label(s.minutes)
    )
}

async fn page(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ViewEditFeed)?;
    let places = Places::load(&mut t.scope).await?;
    let zone = dates::zone(&t.tenant.time_zone);
    let edits = edits::feed(&mut t.scope, None, None)
        .await?
        .into_iter()
        .map(|edit| EditView {
            when: format!(
                "{} {}",
                dates::local_date(edit.created_at, &zone),
                dates::clock(edit.created_at, &zone)
            ),
            before: describe(edit.before.as_ref(), &places),
            after: describe(edit.after.as_ref(), &places),
            edit,
        })
        .collect();
    render(&EditFeedPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/edits"),
        edits,
    })
}
