//! A month's payroll: for each location, every employee's base, overtime
//! and Sunday/holiday hours there ([`super::classify`] over the whole weeks
//! around the month, so a week straddling two months is evaluated whole),
//! their paid absences, and their gross pay; and a summary of each
//! employee across locations. The workbook and the CSV
//! ([`super::workbook`]) are written from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::tz::TimeZone;
use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};

use super::rules::{self, Effective};
use super::{Split, Worked, classify, totals};
use crate::employees::{self, Employee};
use crate::shifts::{self, Days};
use crate::{EmployeeId, absences, dates, holidays};
use kernel::crypto::Keys;
use kernel::error::AppError;
use kernel::ids::LocationId;
use kernel::tenancy::TenantScope;
use kernel::tenancy::permissions::LocationVisibility;

/// The currency pay is shown in (hourly rates are in its minor unit).
pub const CURRENCY: &str = "EUR";

/// One employee's line on a sheet: the columns the accountant keys in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub employee_id: EmployeeId,
    pub national_id: String,
    pub name: String,
    pub base_minutes: i64,
    pub overtime_minutes: i64,
    /// Paid absences (vacation, sick, other): paid at the base rate.
    pub holiday_minutes: i64,
    /// Worked on Sundays and public holidays.
    pub sunday_holiday_minutes: i64,
    /// In the currency's minor unit (cents).
    pub gross_cents: i64,
}

impl Line {
    fn add(&mut self, other: &Line) {
        self.base_minutes += other.base_minutes;
        self.overtime_minutes += other.overtime_minutes;
        self.holiday_minutes += other.holiday_minutes;
        self.sunday_holiday_minutes += other.sunday_holiday_minutes;
        self.gross_cents += other.gross_cents;
    }
}

/// One location's sheet.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Sheet {
    pub location_id: LocationId,
    pub location_name: String,
    /// By employee name.
    pub lines: Vec<Line>,
    pub total: Line,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Payroll {
    #[serde(with = "dates::date")]
    pub first: Date,
    #[serde(with = "dates::date")]
    pub last: Date,
    pub currency: &'static str,
    /// One per location with anything to pay, by name.
    pub sheets: Vec<Sheet>,
    /// Each employee across locations, by name.
    pub summary: Vec<Line>,
    pub total: Line,
}

/// The payroll of `first..=last` (a month): every employee with worked
/// time or paid absences in it. Open shifts don't count until they close.
///
/// # Errors
/// When the database fails, or a national id can't be decrypted.
pub async fn compute(
    scope: &mut TenantScope,
    keys: &Keys,
    first: Date,
    last: Date,
) -> Result<Payroll, AppError> {
    let weeks = whole_weeks(first, last);
    let people = employees::list(scope, LocationVisibility::every_location()).await?;
    let locations = kernel::locations::list(
        scope,
        LocationVisibility::every_location(),
        kernel::locations::Page::ALL,
    )
    .await?;
    let names: HashMap<LocationId, String> =
        locations.into_iter().map(|l| (l.id, l.name)).collect();
    let zones = shifts::zones(scope).await?;
    let rules = rules::effective(scope).await?;
    // From the day before the first week: a night shift brings its hours in.
    let reach = Days {
        first: weeks.first - Duration::DAY,
        last: weeks.last,
    };
    let holidays = holidays::by_location(scope, reach.first, reach.last).await?;
    let absent = absences::minutes_by_employee(scope, first, last).await?;
    let worked = shifts::on_days(scope, None, reach, OffsetDateTime::now_utc()).await?;
    let mut spans: HashMap<EmployeeId, Vec<(OffsetDateTime, OffsetDateTime, LocationId)>> =
        HashMap::new();
    for shift in worked {
        if let (Some(start), Some(end)) = (shift.start, shift.end) {
            spans
                .entry(shift.employee_id)
                .or_default()
                .push((start, end, shift.location_id));
        }
    }

    let context = Context {
        zones,
        holidays,
        rules,
        none: BTreeSet::new(),
        utc: TimeZone::UTC,
    };
    let mut by_location: BTreeMap<LocationId, Vec<Line>> = BTreeMap::new();
    let mut summary = Vec::new();
    for employee in &people {
        let spans = spans.remove(&employee.id).unwrap_or_default();
        let absent = absent.get(&employee.id).copied().unwrap_or(0);
        let national_id = employee.national_id(keys)?;
        let lines = context.lines(employee, &national_id, &spans, absent, first, last);
        if lines.is_empty() {
            continue;
        }
        let mut overall = blank(employee, &national_id);
        for (location, line) in lines {
            overall.add(&line);
            by_location.entry(location).or_default().push(line);
        }
        summary.push(overall);
    }
    let mut sheets: Vec<Sheet> = by_location
        .into_iter()
        .map(|(location_id, lines)| Sheet {
            location_id,
            location_name: names.get(&location_id).cloned().unwrap_or_default(),
            total: total(&lines),
            lines,
        })
        .collect();
    sheets.sort_by_key(|s| s.location_name.to_lowercase());
    Ok(Payroll {
        first,
        last,
        currency: CURRENCY,
        total: total(&summary),
        sheets,
        summary,
    })
}

/// The Monday on or before `first` to the Sunday on or after `last`.
fn whole_weeks(first: Date, last: Date) -> Days {
    Days {
        first: Days::week_of(first).first,
        last: Days::week_of(last).last,
    }
}

/// An empty line for the employee whose decrypted national id is given.
fn blank(employee: &Employee, national_id: &str) -> Line {
    Line {
        employee_id: employee.id,
        national_id: national_id.to_owned(),
        name: employee.name.clone(),
        ..Line::default()
    }
}

fn total(lines: &[Line]) -> Line {
    let mut total = Line {
        name: "Total".to_owned(),
        ..Line::default()
    };
    for line in lines {
        total.add(line);
    }
    total
}

/// What classifying needs about the tenant's locations.
struct Context {
    zones: HashMap<LocationId, TimeZone>,
    holidays: HashMap<LocationId, BTreeSet<Date>>,
    rules: Effective,
    /// For a location without holidays, or (never) without a zone.
    none: BTreeSet<Date>,
    utc: TimeZone,
}

impl Context {
    /// One employee's lines by location: their worked minutes in
    /// `first..=last` classified and priced under each location's rules,
    /// and their paid absence (at the base rate) on the line of the
    /// location they worked at most, or else their first.
    fn lines(
        &self,
        employee: &Employee,
        national_id: &str,
        spans: &[(OffsetDateTime, OffsetDateTime, LocationId)],
        absent: i64,
        first: Date,
        last: Date,
    ) -> Vec<(LocationId, Line)> {
        // Every location a line can be on: where they worked, and theirs.
        let pay_rules: HashMap<LocationId, super::PayRules> = spans
            .iter()
            .map(|(_, _, location)| *location)
            .chain(employee.location_ids.iter().copied())
            .map(|location| (location, self.rules.at(location).pay()))
            .collect();
        let worked: Vec<Worked<'_, LocationId>> = spans
            .iter()
            .map(|(start, end, location)| Worked {
                start: *start,
                end: *end,
                zone: self.zones.get(location).unwrap_or(&self.utc),
                holidays: self.holidays.get(location).unwrap_or(&self.none),
                rules: &pay_rules[location],
                place: *location,
            })
            .collect();
        let mut by_location: Vec<(LocationId, Split)> = totals(&classify(&worked), first, last)
            .into_iter()
            .collect();
        by_location.retain(|(_, split)| split.total() > 0);
        let home = by_location
            .iter()
            .max_by_key(|(_, split)| split.total())
            .map(|(location, _)| *location)
            .or_else(|| employee.location_ids.first().copied());
        if absent > 0
            && let Some(home) = home
            && !by_location.iter().any(|(location, _)| *location == home)
        {
            by_location.push((home, Split::default()));
        }
        by_location
            .into_iter()
            .map(|(location, split)| {
                let holiday = if Some(location) == home { absent } else { 0 };
                let paid = Split {
                    base: split.base + holiday,
                    ..split
                };
                let line = Line {
                    base_minutes: split.base,
                    overtime_minutes: split.overtime,
                    holiday_minutes: holiday,
                    sunday_holiday_minutes: split.sunday_holiday,
                    gross_cents: paid.pay_cents(employee.hourly_rate_cents, &pay_rules[&location]),
                    ..blank(employee, national_id)
                };
                (location, line)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_month_is_evaluated_in_whole_iso_weeks() {
        let november = whole_weeks(date!(2026 - 11 - 01), date!(2026 - 11 - 30));
        assert_eq!(november.first, date!(2026 - 10 - 26), "the Monday before");
        assert_eq!(november.last, date!(2026 - 12 - 06), "the Sunday after");
        let february = whole_weeks(date!(2027 - 02 - 01), date!(2027 - 02 - 28));
        assert_eq!(february.first, date!(2027 - 02 - 01), "already a Monday");
        assert_eq!(february.last, date!(2027 - 02 - 28), "already a Sunday");
    }
}
