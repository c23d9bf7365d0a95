//! The review queue: flagged shifts, punches too old to record, and open
//! correction requests (dismissed here, answered by an edit).

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::{Date, OffsetDateTime};
use tower_sessions::Session;

use super::{Places, ShiftView, Tabs, refusal};
use crate::employees;
use crate::permissions::TimeAction;
use crate::punches::{self, Kind};
use crate::shifts::api::Range;
use crate::shifts::corrections::{self, CorrectionRequest, Status};
use crate::shifts::{self, Days};
use crate::{CorrectionId, EmployeeId, dates};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::extract::{Form, Path, Query};
use kernel::http::routes::{Access, Routes, get, post};
use kernel::pages::{Layout, TenantNav, render};
use kernel::sessions::flash::{self, Flash};

pub(super) fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/time/review", Access::Tenant, get(page))
        .add(
            "/t/{slug}/time/requests/{request_id}/dismiss",
            Access::Tenant,
            post(dismiss),
        )
}

#[derive(Template)]
#[template(path = "time_tracking/review.html")]
struct ReviewPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    days: Days,
    shifts: Vec<ShiftView>,
    requests: Vec<CorrectionRequest>,
    too_old: Vec<TooOldView>,
    /// [`punches::MAX_AGE`], for the page to say.
    max_age_days: i64,
    can_edit: bool,
}

/// A punch too old to record, on its location's wall clock.
struct TooOldView {
    employee_id: EmployeeId,
    employee: String,
    location: String,
    kind: &'static str,
    day: Date,
    time: String,
    received: Date,
}

/// What needs a look: flagged shifts and punches that arrived too old to
/// record (the last two weeks by default), and open correction requests.
async fn page(
    layout: Layout,
    mut t: InTenant,
    Query(range): Query<Range>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ViewTeamRecords)?;
    let today = dates::today(&t.tenant.time_zone);
    let range = Range {
        from: range.from.or(Some(today - time::Duration::days(13))),
        ..range
    };
    let days = range.days(today)?;
    let readable = employees::readable_all(&mut t).await?;
    let places = Places::load(&mut t.scope).await?;
    let shifts = shifts::on_days(&mut t.scope, None, days, OffsetDateTime::now_utc())
        .await?
        .iter()
        .filter(|s| !s.flags.is_empty())
        .filter_map(|s| Some(places.view(s, &readable.get(&s.employee_id)?.name)))
        .collect();
    let mut requests = corrections::list(&mut t.scope, Some(Status::Open)).await?;
    requests.retain(|r| readable.contains_key(&r.employee_id));
    let tenant_zone = dates::zone(&t.tenant.time_zone);
    let too_old = punches::too_old(&mut t.scope, days, &tenant_zone)
        .await?
        .into_iter()
        .filter_map(|punch| {
            let zone = places.zone(punch.location_id);
            Some(TooOldView {
                employee_id: punch.employee_id,
                employee: readable.get(&punch.employee_id)?.name.clone(),
                location: places.name(punch.location_id),
                kind: match punch.kind {
                    Kind::In => "Clock-in",
                    Kind::Out => "Clock-out",
                },
                day: dates::local_date(punch.at, &zone),
                time: dates::clock(punch.at, &zone),
                received: dates::local_date(punch.received_at, &tenant_zone),
            })
        })
        .collect();
    render(&ReviewPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/review"),
        days,
        shifts,
        requests,
        too_old,
        max_age_days: punches::MAX_AGE.whole_days(),
        can_edit: t.member.authorize(TimeAction::EditShifts).is_ok(),
    })
}

#[derive(Debug, Default, Deserialize)]
struct DismissForm {
    note: String,
}

async fn dismiss(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, CorrectionId)>,
    Form(form): Form<DismissForm>,
) -> Result<Response, AppError> {
    let request = corrections::find(&mut t.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    employees::readable(&mut t, request.employee_id).await?;
    t.member.authorize(TimeAction::EditShifts)?;
    let message = match corrections::dismiss(
        &mut t.scope,
        id,
        t.member.author(),
        &form.note,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(_) => {
            t.scope.commit().await?;
            Flash::success(format!("Dismissed {}'s request.", request.employee_name))
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(Redirect::to(&format!("/t/{}/time/review", t.tenant.slug)).into_response())
}
