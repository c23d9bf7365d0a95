//! Where pay rules are kept: the tenant's in its settings row, and a
//! location's own (a whole set; without one it uses the tenant's).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::PayRules;
use crate::{LocationPayRulesId, SettingsId};
use kernel::error::AppError;
use kernel::ids::LocationId;
use kernel::tenancy::TenantScope;
use kernel::tenancy::permissions::LocationVisibility;
use kernel::validation::FieldErrors;
use kernel::{on_tx, row};

/// Why an archived location's rules can't change.
pub const ARCHIVED: &str = "This location is archived: its pay rules are kept.";

row! {
    columns: rules_columns;
    /// Pay rules as they are stored and as the API shows them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
    pub struct Rules {
        /// Worked minutes a calendar day before overtime; `null`: no daily
        /// limit.
        pub daily_overtime_minutes: Option<i32>,
        /// Worked minutes an ISO week (Monday to Sunday) before overtime;
        /// `null`: no weekly limit.
        pub weekly_overtime_minutes: Option<i32>,
        /// Overtime pay, as a percentage of the hourly rate (125: ×1.25).
        pub overtime_percent: i32,
        /// Pay for time worked on Sundays and public holidays, likewise.
        pub sunday_holiday_percent: i32,
    }
}

row! {
    /// A location's own rules, as stored.
    struct OwnRules {
        location_id: LocationId,
        daily_overtime_minutes: Option<i32>,
        weekly_overtime_minutes: Option<i32>,
        overtime_percent: i32,
        sunday_holiday_percent: i32,
    }
}

/// A tenant's rules before it sets its own (the columns' defaults): Spain's
/// statutory maxima of ordinary time, 9 h a day and 40 h a week.
pub const DEFAULT: Rules = Rules {
    daily_overtime_minutes: Some(540),
    weekly_overtime_minutes: Some(2400),
    overtime_percent: 125,
    sunday_holiday_percent: 175,
};

impl Rules {
    /// # Errors
    /// Each value out of range, by field.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self
            .daily_overtime_minutes
            .is_some_and(|m| !(1..=1440).contains(&m))
        {
            errors.add("daily_overtime_minutes", "Between 1 minute and 24 hours.");
        }
        if self
            .weekly_overtime_minutes
            .is_some_and(|m| !(1..=10_080).contains(&m))
        {
            errors.add("weekly_overtime_minutes", "Between 1 minute and 168 hours.");
        }
        for (field, percent) in [
            ("overtime_percent", self.overtime_percent),
            ("sunday_holiday_percent", self.sunday_holiday_percent),
        ] {
            if !(100..=1000).contains(&percent) {
                errors.add(field, "Between 100 and 1000 (percent of the hourly rate).");
            }
        }
        errors.or_ok(())
    }

    pub fn pay(self) -> PayRules {
        PayRules {
            daily_threshold: self.daily_overtime_minutes.map(i64::from),
            weekly_threshold: self.weekly_overtime_minutes.map(i64::from),
            overtime_percent: i64::from(self.overtime_percent),
            sunday_holiday_percent: i64::from(self.sunday_holiday_percent),
        }
    }
}

/// The tenant's rules, and each location's own.
#[derive(Clone, Debug)]
pub struct Effective {
    pub tenant: Rules,
    pub own: HashMap<LocationId, Rules>,
}

impl Effective {
    /// The rules at `location`: its own, or the tenant's.
    pub fn at(&self, location: LocationId) -> Rules {
        self.own.get(&location).copied().unwrap_or(self.tenant)
    }
}

/// The rules in force.
pub async fn effective(scope: &mut TenantScope) -> Result<Effective, sqlx::Error> {
    let tenant = scope.tenant_id();
    let row: Option<Rules> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(concat!(
            "SELECT ",
            rules_columns!(),
            " FROM time_tracking_settings WHERE tenant_id = $1"
        ))
        .bind(tenant)
        .fetch_optional(conn)
        .await
    })?;
    let rows: Vec<OwnRules> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(concat!(
            "SELECT location_id, ",
            rules_columns!(),
            " FROM location_pay_rules WHERE tenant_id = $1"
        ))
        .bind(tenant)
        .fetch_all(conn)
        .await
    })?;
    Ok(Effective {
        tenant: row.unwrap_or(DEFAULT),
        own: rows
            .into_iter()
            .map(|row| {
                let rules = Rules {
                    daily_overtime_minutes: row.daily_overtime_minutes,
                    weekly_overtime_minutes: row.weekly_overtime_minutes,
                    overtime_percent: row.overtime_percent,
                    sunday_holiday_percent: row.sunday_holiday_percent,
                };
                (row.location_id, rules)
            })
            .collect(),
    })
}

/// Sets the tenant's rules.
///
/// # Errors
/// 422 for a value out of range.
pub async fn set_tenant(scope: &mut TenantScope, rules: &Rules) -> Result<(), AppError> {
    rules.validate()?;
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO time_tracking_settings (tenant_id, id, daily_overtime_minutes, weekly_overtime_minutes, \
             overtime_percent, sunday_holiday_percent) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant_id) DO UPDATE SET daily_overtime_minutes = excluded.daily_overtime_minutes, \
             weekly_overtime_minutes = excluded.weekly_overtime_minutes, \
             overtime_percent = excluded.overtime_percent, \
             sunday_holiday_percent = excluded.sunday_holiday_percent"
    )
    .bind(tenant)
    .bind(SettingsId::new())
    .bind(rules.daily_overtime_minutes)
    .bind(rules.weekly_overtime_minutes)
    .bind(rules.overtime_percent)
    .bind(rules.sunday_holiday_percent)
    .execute(conn)
    .await
    .map(drop)
    })?;
    Ok(())
}

/// Gives a location its own rules (`Some`), or returns it to the tenant's.
///
/// # Errors
/// 422 for a value out of range.
pub async fn set_location(
    scope: &mut TenantScope,
    location: LocationId,
    rules: Option<&Rules>,
) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    let Some(rules) = rules else {
        on_tx!(scope.tx(), |conn| sqlx::query(
            "DELETE FROM location_pay_rules WHERE tenant_id = $1 AND location_id = $2"
        )
        .bind(tenant)
        .bind(location)
        .execute(conn)
        .await
        .map(drop))?;
        return Ok(());
    };
    rules.validate()?;
    on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO location_pay_rules (tenant_id, id, location_id, daily_overtime_minutes, \
             weekly_overtime_minutes, overtime_percent, sunday_holiday_percent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id, location_id) DO UPDATE SET \
             daily_overtime_minutes = excluded.daily_overtime_minutes, \
             weekly_overtime_minutes = excluded.weekly_overtime_minutes, \
             overtime_percent = excluded.overtime_percent, \
             sunday_holiday_percent = excluded.sunday_holiday_percent"
    )
    .bind(tenant)
    .bind(LocationPayRulesId::new())
    .bind(location)
    .bind(rules.daily_overtime_minutes)
    .bind(rules.weekly_overtime_minutes)
    .bind(rules.overtime_percent)
    .bind(rules.sunday_holiday_percent)
    .execute(conn)
    .await
    .map(drop))?;
    Ok(())
}

/// One location's rules, as the API shows them.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LocationRules {
    pub location_id: LocationId,
    pub location_name: String,
    /// Its own rules; `null`: it uses the tenant's.
    pub own: Option<Rules>,
    /// The rules in force there.
    pub effective: Rules,
}

/// Every rule in force, as the API shows them.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AllRules {
    pub tenant: Rules,
    /// The active locations the member sees.
    pub locations: Vec<LocationRules>,
}

/// The tenant's rules and those of each active location the member sees.
pub async fn all(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
) -> Result<AllRules, sqlx::Error> {
    let effective = effective(scope).await?;
    let locations =
        kernel::locations::list(scope, visibility, kernel::locations::Page::ALL).await?;
    Ok(AllRules {
        tenant: effective.tenant,
        locations: locations
            .into_iter()
            .filter(|l| l.archived_at.is_none())
            .map(|l| LocationRules {
                location_id: l.id,
                own: effective.own.get(&l.id).copied(),
                effective: effective.at(l.id),
                location_name: l.name,
            })
            .collect(),
    })
}
