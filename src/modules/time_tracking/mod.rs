//! Time tracking: the bundled example product. Working-time records for a
//! multi-location business that must record every employee's daily start
//! and end, keep them for four years, and show them to a labour inspector.
//!
//! It is built only from the core's public patterns, and is the model for a
//! module of your own:
//! * every query takes a tenant scope ([`crate::tenancy::TenantScope`]);
//! * every route is registered in the route registry, so the isolation
//!   suite covers it, and every JSON route is in the OpenAPI document;
//! * what a role may do is decided by [`permissions::TimeAction`], through
//!   the core's decision point (`Member::authorize`);
//! * errors are the core's [`crate::error::AppError`].
//!
//! Parts: [`employees`] (with their kiosk PINs), [`devices`] (paired kiosk
//! tablets), [`kiosk`] (the punch API the tablets call), [`punches`]
//! (recording a punch exactly once), [`shifts`] (derived from punches,
//! their edits and correction requests), [`log`] (the tamper-evident log),
//! [`settings`] (the tenant's shift cap, and the log's head), [`pages`]
//! (the HTML pages) and [`cli`] (`verify-log`).

pub mod absences;
pub mod cli;
pub mod dates;
pub mod demo;
pub mod devices;
pub mod employees;
pub mod holidays;
pub mod kiosk;
pub mod log;
pub mod pages;
pub mod pay;
pub mod permissions;
pub mod punches;
pub mod settings;
pub mod shifts;

use utoipa::OpenApi;

use crate::http::routes::Routes;
use crate::ids::typed_id;
use crate::modules::Module;
use crate::pages::NavLink;
use crate::tenancy::{Member, Tenant};

/// The module, as `crate::modules` registers it.
pub const MODULE: Module = Module {
    routes,
    openapi: ApiDoc::openapi,
    nav,
    commands: cli::COMMANDS,
    schedules: &pay::email::SCHEDULES,
    sealed: &[employees::national_id::SEALED],
};

fn routes() -> Routes {
    Routes::new()
        .merge(employees::api::routes())
        .merge(employees::records::routes())
        .merge(devices::api::routes())
        .merge(kiosk::api::routes())
        .merge(kiosk::shell::routes())
        .merge(shifts::api::routes())
        .merge(pages::routes())
        .merge(employees::pages::routes())
        .merge(devices::pages::routes())
        .merge(holidays::api::routes())
        .merge(holidays::pages::routes())
        .merge(absences::api::routes())
        .merge(absences::pages::routes())
        .merge(pay::api::routes())
        .merge(pay::pages::routes())
}

/// One link for everyone: the board for those who see the team, their own
/// timesheet for staff (`/t/{slug}/time` sends each to theirs).
fn nav(tenant: &Tenant, _member: &Member) -> Vec<NavLink> {
    vec![NavLink {
        label: "Time",
        href: format!("/t/{}/time", tenant.slug),
    }]
}

#[derive(OpenApi)]
#[openapi(
    paths(
        employees::api::list,
        employees::api::create,
        employees::api::show,
        employees::api::update,
        employees::api::new_pin,
        employees::records::json,
        employees::records::csv,
        devices::api::list,
        devices::api::create,
        devices::api::revoke,
        kiosk::api::pair,
        kiosk::api::device,
        kiosk::api::punch,
        kiosk::api::batch,
        shifts::api::shifts,
        shifts::api::edit,
        shifts::api::edit_feed,
        shifts::api::request_correction,
        shifts::api::correction_requests,
        shifts::api::dismiss,
        shifts::api::review,
        shifts::api::verify_log,
        holidays::api::calendars,
        holidays::api::list,
        holidays::api::create,
        holidays::api::load,
        holidays::api::remove,
        absences::api::list,
        absences::api::create,
        absences::api::remove,
        pay::api::show,
        pay::api::update,
        pay::api::update_location,
        pay::api::reset_location,
        pay::api::payroll,
        pay::api::payroll_xlsx,
        pay::api::payroll_csv,
        pay::api::forecast,
        pay::api::payroll_email,
        pay::api::set_payroll_email,
    ),
    tags(
        (name = "time-tracking", description = "Employees and their kiosk PINs, paired kiosk tablets, shifts and their edits, correction requests, and the tamper-evident log"),
        (name = "kiosk", description = "What a paired kiosk tablet calls, with its device token as Authorization: Bearer"),
    )
)]
struct ApiDoc;

typed_id!(
    /// A person whose working time is recorded (not necessarily a member).
    EmployeeId
);

typed_id!(
    /// One location an employee works at.
    EmployeeLocationId
);

typed_id!(
    /// A kiosk tablet paired with one location.
    DeviceId
);

typed_id!(
    /// One punch (clock in or out), or an attempt refused.
    PunchId
);

typed_id!(
    /// A punch's id as the kiosk made it, before sending: the idempotency
    /// key of its replays.
    ClientId
);

typed_id!(
    /// The row a log entry records (a punch, an edit).
    SubjectId
);

typed_id!(
    /// One entry of the tamper-evident log.
    LogEntryId
);

typed_id!(
    /// A tenant's time-tracking settings row.
    SettingsId
);

typed_id!(
    /// One edit of a shift (an addition, a correction or a deletion).
    EditId
);

typed_id!(
    /// A staff member's request to correct their record.
    CorrectionId
);

typed_id!(
    /// A punch taken out of the record by an edit.
    VoidId
);

typed_id!(
    /// A public holiday at one location.
    HolidayId
);

typed_id!(
    /// An employee's paid absence on one day.
    AbsenceId
);

typed_id!(
    /// A location's own pay rules.
    LocationPayRulesId
);
