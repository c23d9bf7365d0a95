//! Time tracking: the bundled example product. Working-time records for a
//! multi-location business that must record every employee's daily start
//! and end, keep them for four years, and show them to a labour inspector.
//!
//! It is built only from the core's public patterns, and is the model for a
//! module of your own:
//! * every query takes a tenant scope ([`kernel::tenancy::TenantScope`]);
//! * every route is registered in the route registry, so the isolation
//!   suite covers it, and every JSON route is in the OpenAPI document;
//! * what a role may do is decided by [`permissions::TimeAction`], through
//!   the core's decision point (`Member::authorize`);
//! * errors are the core's [`kernel::error::AppError`].
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

use kernel::capability::{ApiTag, Capability};
use kernel::http::routes::{NavLink, Pitch};
use kernel::tenancy::{Member, Tenant};
use kernel::typed_id;

/// The module, as the app's `modules.rs` registers it.
/// What the landing page says of the app with this module.
const PITCH: Pitch = Pitch {
    eyebrow: "Working-time records, done right",
    headline: "Every shift, at every location, recorded and ready for payroll.",
    lead: "gives multi-location businesses a clock-in kiosk that works offline, records that \
           stand up to an inspection, and a monthly workbook your accountant can key straight \
           into payroll.",
    features: &[
        (
            "A kiosk that never loses a punch",
            "A tablet at each site clocks staff in with a PIN. No signal behind the bar? Punches \
             are saved on the device and sync when it returns.",
        ),
        (
            "Every location, one account",
            "Owners see every site; managers see the ones they run; staff see their own hours. \
             Each business's data is kept apart from every other's.",
        ),
        (
            "Payroll in minutes",
            "Base, overtime and holiday hours worked out for you, in a monthly workbook with \
             exactly the columns your accountant asks for.",
        ),
    ],
    paid_plan_for: "For businesses with several locations and a payroll to run.",
};

pub const CAPABILITY: Capability = Capability {
    routes: &[
        employees::api::routes,
        employees::records::routes,
        devices::api::routes,
        kiosk::api::routes,
        kiosk::shell::routes,
        shifts::api::routes,
        pages::routes,
        employees::pages::routes,
        employees::timesheet::routes,
        devices::pages::routes,
        holidays::api::routes,
        holidays::pages::routes,
        absences::api::routes,
        absences::pages::routes,
        pay::api::routes,
        pay::pages::routes,
    ],
    api_tags: &[
        ApiTag {
            name: "time-tracking",
            description: "Employees and their kiosk PINs, paired kiosk tablets, shifts and their edits, correction requests, and the tamper-evident log",
        },
        ApiTag {
            name: "kiosk",
            description: "What a paired kiosk tablet calls, with its device token as Authorization: Bearer",
        },
    ],
    nav,
    commands: Some(cli::COMMANDS),
    schedules: &pay::email::SCHEDULES,
    sealed: &[employees::national_id::SEALED],
    pitch: Some(&PITCH),
    seat: Some(&employees::ACTIVE_EMPLOYEES),
    ..Capability::NONE
};

/// One link for everyone: the board for those who see the team, their own
/// timesheet for staff (`/t/{slug}/time` sends each to theirs).
fn nav(tenant: &Tenant, _member: &Member) -> Vec<NavLink> {
    vec![NavLink::to(tenant, "Time", "time")]
}

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
