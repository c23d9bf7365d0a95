//! Public holidays, by location (regions and towns differ): time worked on
//! one is Sunday/holiday time, and the forecast doesn't count it as a
//! working day. Owners and admins keep the calendars; the app ships
//! Spain's national and Catalonia's holidays for 2026 and 2027
//! (`spain.csv`), which load into a location in one go.

pub mod api;
pub mod pages;

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use time::Date;

use super::{HolidayId, dates};
use kernel::error::AppError;
use kernel::ids::LocationId;
use kernel::locations::Location;
use kernel::tenancy::TenantScope;
use kernel::validation::{self, FieldErrors};
use kernel::{on_tx, row};

row! {
    #[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
    pub struct Holiday {
        pub id: HolidayId,
        pub location_id: LocationId,
        #[serde(with = "dates::date")]
        pub day: Date,
        pub name: String,
    }
}

row! {
    /// A holiday's location and day.
    struct HolidayDay {
        location_id: LocationId,
        day: Date,
    }
}

/// A holiday to add, as the API and the form send it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewHoliday {
    #[serde(with = "dates::date")]
    pub day: Date,
    pub name: String,
}

/// A calendar the app ships, loadable into a location.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Calendar {
    /// What to load it by: `es` or `es-ct`.
    pub id: &'static str,
    pub name: &'static str,
    /// Its holidays, by day.
    pub holidays: Vec<ShippedHoliday>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ShippedHoliday {
    #[serde(with = "dates::date")]
    pub day: Date,
    pub name: String,
}

/// The shipped calendars: which regions of the data file each takes.
const CALENDARS: [(&str, &str, &[&str]); 2] = [
    ("es", "Spain (national holidays)", &["ES"]),
    ("es-ct", "Spain and Catalonia", &["ES", "ES-CT"]),
];

const SPAIN: &str = include_str!("spain.csv");

/// Every calendar the app ships, with its holidays in date order.
pub fn calendars() -> Vec<Calendar> {
    let rows: Vec<(Date, &str, &str)> = SPAIN
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("day,"))
        .filter_map(|line| {
            let mut fields = line.splitn(3, ',');
            let day = validation::parse_date(fields.next()?)?;
            Some((day, fields.next()?, fields.next()?))
        })
        .collect();
    CALENDARS
        .iter()
        .map(|(id, name, regions)| {
            let mut holidays: Vec<ShippedHoliday> = rows
                .iter()
                .filter(|(_, region, _)| regions.contains(region))
                .map(|(day, _, name)| ShippedHoliday {
                    day: *day,
                    name: (*name).to_owned(),
                })
                .collect();
            holidays.sort_by_key(|h| h.day);
            Calendar { id, name, holidays }
        })
        .collect()
}

/// The shipped calendar named `id`.
///
/// # Errors
/// 422 for an unknown name.
pub fn calendar(id: &str) -> Result<Calendar, AppError> {
    calendars()
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::Unprocessable("calendar: Not a calendar the app ships.".into()))
}

/// Archived locations keep their calendar as it was.
fn refuse_archived(location: &Location) -> Result<(), AppError> {
    match location.archived_at {
        Some(_) => Err(AppError::Unprocessable(
            "This location is archived: its calendar is kept as it was.".into(),
        )),
        None => Ok(()),
    }
}

/// A location's holidays (of one year, or all), by day.
pub async fn list(
    scope: &mut TenantScope,
    location: LocationId,
    year: Option<i32>,
) -> Result<Vec<Holiday>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let (from, to) = year
        .and_then(|year| {
            Some((
                Date::from_ordinal_date(year, 1).ok()?,
                Date::from_ordinal_date(year + 1, 1).ok()?,
            ))
        })
        .unzip();
    let from_day = kernel::db::optional_filter("day >= $3", "$3", from.is_some());
    let before_day = kernel::db::optional_filter("day < $4", "$4", to.is_some());
    let sql = format!(
        "SELECT id, location_id, day, name FROM holidays \
         WHERE tenant_id = $1 AND location_id = $2 AND {from_day} AND {before_day} ORDER BY day"
    );
    on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(location)
            .bind(from)
            .bind(to)
            .fetch_all(conn)
            .await
    })
}

/// The holidays of every location on `first..=last`.
pub async fn by_location(
    scope: &mut TenantScope,
    first: Date,
    last: Date,
) -> Result<HashMap<LocationId, BTreeSet<Date>>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let rows: Vec<HolidayDay> = on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT location_id, day FROM holidays WHERE tenant_id = $1 AND day >= $2 AND day <= $3"
    )
    .bind(tenant)
    .bind(first)
    .bind(last)
    .fetch_all(conn)
    .await)?;
    let mut holidays: HashMap<LocationId, BTreeSet<Date>> = HashMap::new();
    for row in rows {
        holidays.entry(row.location_id).or_default().insert(row.day);
    }
    Ok(holidays)
}

/// Adds a holiday at an active location.
///
/// # Errors
/// 422 for an archived location or a missing name, 409 when the day is
/// already a holiday there.
pub async fn add(
    scope: &mut TenantScope,
    location: &Location,
    input: &NewHoliday,
) -> Result<Holiday, AppError> {
    refuse_archived(location)?;
    let mut errors = FieldErrors::default();
    let name = validation::text(&mut errors, "name", &input.name, true, 100);
    errors.or_ok(())?;
    match insert(scope, location.id, input.day, &name).await? {
        Some(id) => Ok(Holiday {
            id,
            location_id: location.id,
            day: input.day,
            name,
        }),
        None => Err(AppError::Conflict(format!(
            "{} is already a holiday at this location.",
            input.day
        ))),
    }
}

/// Loads a shipped calendar into an active location: the days it already
/// has keep their entries. Returns how many were added.
///
/// # Errors
/// 422 for an archived location.
pub async fn load(
    scope: &mut TenantScope,
    location: &Location,
    calendar: &Calendar,
) -> Result<usize, AppError> {
    refuse_archived(location)?;
    let mut added = 0;
    for holiday in &calendar.holidays {
        if insert(scope, location.id, holiday.day, &holiday.name)
            .await?
            .is_some()
        {
            added += 1;
        }
    }
    Ok(added)
}

/// Inserts a holiday unless the day has one: `None` then.
async fn insert(
    scope: &mut TenantScope,
    location: LocationId,
    day: Date,
    name: &str,
) -> Result<Option<HolidayId>, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "INSERT INTO holidays (tenant_id, id, location_id, day, name) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, location_id, day) DO NOTHING RETURNING id"
    )
    .bind(tenant)
    .bind(HolidayId::new())
    .bind(location)
    .bind(day)
    .bind(name)
    .fetch_optional(conn)
    .await)
}

/// Removes a holiday; returns it.
///
/// # Errors
/// 404 for a holiday not in the tenant.
pub async fn remove(scope: &mut TenantScope, id: HolidayId) -> Result<Holiday, AppError> {
    let tenant = scope.tenant_id();
    let removed: Option<Holiday> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "DELETE FROM holidays WHERE tenant_id = $1 AND id = $2 RETURNING id, location_id, day, name"
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
    })?;
    removed.ok_or(AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_shipped_calendars_hold_every_line_of_the_data_file() {
        let calendars = calendars();
        let spain = &calendars[0];
        let catalonia = &calendars[1];
        assert_eq!(spain.holidays.len(), 20, "ten national holidays a year");
        assert_eq!(catalonia.holidays.len(), 28, "and four of Catalonia's");
        assert!(
            catalonia
                .holidays
                .windows(2)
                .all(|pair| pair[0].day < pair[1].day),
            "in date order, no day twice"
        );
        assert!(
            catalonia
                .holidays
                .iter()
                .any(|h| h.day == date!(2026 - 09 - 11) && h.name == "Diada Nacional de Catalunya")
        );
        assert!(
            spain
                .holidays
                .iter()
                .all(|h| h.day != date!(2026 - 09 - 11))
        );
        let data_lines = SPAIN
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("day,"))
            .count();
        assert_eq!(data_lines, catalonia.holidays.len(), "no line skipped");
        assert!(calendar("fr").is_err());
    }
}
