//! A month's labour-cost forecast, per location: its working days (Monday
//! to Friday, less its public holidays) and what the employees' contracted
//! hours cost on them at their base rate. An employee at several locations
//! counts at each for an equal share of their hours.

use serde::Serialize;
use time::{Date, Weekday};

use super::payroll::CURRENCY;
use crate::{dates, employees, holidays};
use kernel::ids::LocationId;
use kernel::tenancy::TenantScope;
use kernel::tenancy::permissions::LocationVisibility;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LocationForecast {
    pub location_id: LocationId,
    pub location_name: String,
    pub working_days: u32,
    /// In the currency's minor unit (cents).
    pub expected_cost_cents: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Forecast {
    #[serde(with = "dates::date")]
    pub first: Date,
    #[serde(with = "dates::date")]
    pub last: Date,
    pub currency: &'static str,
    /// The active locations the member sees, by name.
    pub locations: Vec<LocationForecast>,
    pub total_cents: i64,
}

impl Forecast {
    /// Each location as it is shown (name, working days, expected cost as
    /// money), and the total: for the board and the owners' email.
    pub fn labelled(&self) -> (Vec<(String, u32, String)>, String) {
        let money = |cents| super::pages::money(cents, self.currency);
        let locations = self
            .locations
            .iter()
            .map(|l| {
                (
                    l.location_name.clone(),
                    l.working_days,
                    money(l.expected_cost_cents),
                )
            })
            .collect();
        (locations, money(self.total_cents))
    }
}

/// The forecast of `first..=last` (a month) for the locations the member
/// sees.
pub async fn compute(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    first: Date,
    last: Date,
) -> Result<Forecast, sqlx::Error> {
    let locations = kernel::locations::list(scope, visibility, kernel::locations::Page::ALL)
        .await?
        .into_iter()
        .filter(|l| l.archived_at.is_none());
    let holidays = holidays::by_location(scope, first, last).await?;
    let staff: Vec<_> = employees::list(scope, LocationVisibility::every_location())
        .await?
        .into_iter()
        .filter(|e| {
            e.active
                && e.hire_date <= last
                && e.leave_date.is_none_or(|left| left >= first)
                && !e.location_ids.is_empty()
        })
        .collect();
    let mut forecasts = Vec::new();
    for location in locations {
        let closed = holidays.get(&location.id);
        let mut working_days = 0;
        let mut day = first;
        while day <= last {
            let weekend = matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday);
            if !weekend && closed.is_none_or(|days| !days.contains(&day)) {
                working_days += 1;
            }
            day = day.next_day().unwrap_or(Date::MAX);
        }
        let expected_cost_cents = staff
            .iter()
            .filter(|e| e.location_ids.contains(&location.id))
            .map(|e| {
                // weekly minutes ÷ 5 a working day, × days, × rate per hour,
                // shared between the employee's locations; rounded once.
                let share = 5 * 60 * i64::try_from(e.location_ids.len()).unwrap_or(1);
                let units =
                    i64::from(e.weekly_minutes) * i64::from(working_days) * e.hourly_rate_cents;
                (units + share / 2) / share
            })
            .sum();
        forecasts.push(LocationForecast {
            location_id: location.id,
            location_name: location.name,
            working_days,
            expected_cost_cents,
        });
    }
    Ok(Forecast {
        first,
        last,
        currency: CURRENCY,
        total_cents: forecasts.iter().map(|f| f.expected_cost_cents).sum(),
        locations: forecasts,
    })
}
