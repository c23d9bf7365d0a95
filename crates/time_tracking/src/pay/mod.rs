//! Pay rules: every worked minute of a period is classified as base,
//! overtime, or Sunday/holiday time, and priced with the employee's hourly
//! rate. One pure function, [`classify`], decides it all:
//! * worked time is split at midnight on the location's clock, and each
//!   minute counts on the calendar day it falls on;
//! * a minute is overtime once the day's worked minutes pass the daily
//!   threshold, or the ISO week's (Monday first) regular minutes pass the
//!   weekly one, in the order they were worked (a minute that is already
//!   overtime by the day doesn't count towards the week again); the caller
//!   passes whole weeks, so a week that straddles two months is evaluated
//!   whole;
//! * a minute on a Sunday or a public holiday is Sunday/holiday time;
//! * multipliers don't stack: a minute that is both overtime and on a
//!   Sunday or holiday is paid at the higher of the two, and counted there.

pub mod api;
pub mod email;
pub mod forecast;
pub mod pages;
pub mod payroll;
pub mod rules;
pub mod workbook;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::tz::TimeZone;
use time::{Date, Duration, OffsetDateTime, Weekday};

use super::dates;

/// A tenant's (or a location's) pay rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayRules {
    /// Worked minutes a calendar day before overtime; `None`: no daily limit.
    pub daily_threshold: Option<i64>,
    /// Worked minutes an ISO week before overtime; `None`: no weekly limit.
    pub weekly_threshold: Option<i64>,
    /// Overtime pay as a percentage of the hourly rate (150: ×1.5).
    pub overtime_percent: i64,
    /// Sunday and holiday pay, likewise.
    pub sunday_holiday_percent: i64,
}

/// Worked time at one location: its wall clock, public holidays and pay
/// rules.
#[derive(Clone, Copy, Debug)]
pub struct Worked<'a, P> {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub zone: &'a TimeZone,
    pub holidays: &'a BTreeSet<Date>,
    pub rules: &'a PayRules,
    /// Where it was worked: classified minutes are kept apart by place.
    pub place: P,
}

/// Minutes of one kind and another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub base: i64,
    pub overtime: i64,
    pub sunday_holiday: i64,
}

impl Split {
    pub fn total(self) -> i64 {
        self.base + self.overtime + self.sunday_holiday
    }

    pub fn add(&mut self, other: Split) {
        self.base += other.base;
        self.overtime += other.overtime;
        self.sunday_holiday += other.sunday_holiday;
    }

    /// The pay for these minutes at `hourly_rate_cents`, in cents (rounded
    /// half up once, here: sum [`Split`]s, not pays, to keep totals exact).
    pub fn pay_cents(self, hourly_rate_cents: i64, rules: &PayRules) -> i64 {
        // In cent-percents per minute: exact until the one division.
        let units = hourly_rate_cents
            * (self.base * 100
                + self.overtime * rules.overtime_percent
                + self.sunday_holiday * rules.sunday_holiday_percent);
        (units + 3_000) / 6_000
    }
}

/// Classified minutes by the calendar day they fall on and where they were
/// worked.
pub type Classified<P> = BTreeMap<(Date, P), Split>;

/// The minutes of each place on the days `first..=last`, summed.
pub fn totals<P: Copy + Ord>(days: &Classified<P>, first: Date, last: Date) -> BTreeMap<P, Split> {
    let mut totals: BTreeMap<P, Split> = BTreeMap::new();
    for ((day, place), split) in days {
        if (first..=last).contains(day) {
            totals.entry(*place).or_default().add(*split);
        }
    }
    totals
}

/// One person's worked minutes, by the calendar day they fall on and where
/// they were worked, each classified under the rules of that place (see
/// the module's documentation). The day's and the week's thresholds count
/// the minutes worked at every place. Times count on the minute the clock
/// shows: seconds are dropped.
pub fn classify<P: Copy + Ord>(worked: &[Worked<'_, P>]) -> Classified<P> {
    let mut pieces = Vec::new();
    for span in worked {
        let start = to_minute(span.start);
        let end = to_minute(span.end);
        let mut from = start;
        while from < end {
            let day = dates::local_date(from, span.zone);
            let until = day
                .next_day()
                .map_or(end, |next| dates::start_of(next, span.zone).min(end));
            let special = day.weekday() == Weekday::Sunday || span.holidays.contains(&day);
            pieces.push((from, until, day, special, span));
            from = until;
        }
    }
    pieces.sort_by_key(|(from, ..)| *from);

    let mut days: Classified<P> = BTreeMap::new();
    let mut worked_on_day: HashMap<Date, i64> = HashMap::new();
    let mut worked_in_week: HashMap<(i32, u8), i64> = HashMap::new();
    for (from, until, day, special, span) in pieces {
        let rules = span.rules;
        let minutes = (until - from).whole_minutes();
        let (year, week, _) = day.to_iso_week_date();
        let on_day = worked_on_day.entry(day).or_default();
        let in_week = worked_in_week.entry((year, week)).or_default();
        let room = |worked: i64, threshold: Option<i64>| {
            threshold.map_or(i64::MAX, |limit| (limit - worked).max(0))
        };
        let regular = minutes
            .min(room(*on_day, rules.daily_threshold))
            .min(room(*in_week, rules.weekly_threshold));
        let overtime = minutes - regular;
        *on_day += minutes;
        *in_week += regular;
        let split = days.entry((day, span.place)).or_default();
        match (
            special,
            rules.overtime_percent > rules.sunday_holiday_percent,
        ) {
            (false, _) => {
                split.base += regular;
                split.overtime += overtime;
            }
            (true, true) => {
                split.sunday_holiday += regular;
                split.overtime += overtime;
            }
            (true, false) => split.sunday_holiday += minutes,
        }
    }
    days
}

fn to_minute(at: OffsetDateTime) -> OffsetDateTime {
    at - Duration::seconds(i64::from(at.second()))
        - Duration::nanoseconds(i64::from(at.nanosecond()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    const RULES: PayRules = PayRules {
        daily_threshold: Some(8 * 60),
        weekly_threshold: Some(40 * 60),
        overtime_percent: 150,
        sunday_holiday_percent: 175,
    };

    fn madrid() -> TimeZone {
        dates::zone("Europe/Madrid")
    }

    /// A shift on Madrid's clock (UTC+1 in November and December).
    fn shift<'a>(
        zone: &'a TimeZone,
        holidays: &'a BTreeSet<Date>,
        day: Date,
        from: &str,
        hours: i64,
    ) -> Worked<'a, ()> {
        at(zone, holidays, &RULES, (), day, from, hours)
    }

    /// A shift at `place`, under `rules`.
    fn at<'a, P>(
        zone: &'a TimeZone,
        holidays: &'a BTreeSet<Date>,
        rules: &'a PayRules,
        place: P,
        day: Date,
        from: &str,
        hours: i64,
    ) -> Worked<'a, P> {
        let start = dates::at_local(day, from, zone).expect("a time");
        Worked {
            start,
            end: start + Duration::hours(hours),
            zone,
            holidays,
            rules,
            place,
        }
    }

    /// November 2026 written out: Monday 2 to Saturday 7, 8-hour days from
    /// 09:00 with a 10-hour Thursday, Sunday 8 (4 hours), then a public
    /// holiday on Monday 9 (8 hours). Thresholds 8 h a day, 40 h a week. By
    /// hand:
    /// * Mon–Wed: 3 × 480 base (the week's regular minutes: 1,440).
    /// * Thu 5: 480 base + 120 overtime by the day (regular: 1,920).
    /// * Fri 6: 480 base (regular: 2,400, the weekly threshold).
    /// * Sat 7: 480 overtime by the week.
    /// * Sun 8: 240 past the weekly threshold, on a Sunday: Sunday pays
    ///   more (175 > 150), so 240 Sunday/holiday.
    /// * Mon 9 (a holiday, in a new week): 480 Sunday/holiday.
    #[test]
    fn a_month_worked_out_by_hand() {
        let zone = madrid();
        let holidays = BTreeSet::from([date!(2026 - 11 - 09)]);
        let mut worked = Vec::new();
        for (day, hours) in [
            (2, 8),
            (3, 8),
            (4, 8),
            (5, 10),
            (6, 8),
            (7, 8),
            (8, 4),
            (9, 8),
        ] {
            let day = Date::from_calendar_date(2026, time::Month::November, day).unwrap();
            worked.push(shift(&zone, &holidays, day, "09:00", hours));
        }
        let days = classify(&worked);
        let split = |base, overtime, sunday_holiday| Split {
            base,
            overtime,
            sunday_holiday,
        };
        assert_eq!(days[&(date!(2026 - 11 - 05), ())], split(480, 120, 0));
        assert_eq!(days[&(date!(2026 - 11 - 06), ())], split(480, 0, 0));
        assert_eq!(days[&(date!(2026 - 11 - 07), ())], split(0, 480, 0));
        assert_eq!(days[&(date!(2026 - 11 - 08), ())], split(0, 0, 240));
        assert_eq!(days[&(date!(2026 - 11 - 09), ())], split(0, 0, 480));
        let month = totals(&days, date!(2026 - 11 - 01), date!(2026 - 11 - 30))[&()];
        assert_eq!(month, split(2400, 600, 720));
        assert_eq!(month.total(), 62 * 60, "every hour worked");
        // €12.00 an hour: 2,400 min × 1.0 + 600 × 1.5 + 720 × 1.75 = 4,560
        // paid minutes, at €0.20 = €912.00.
        assert_eq!(month.pay_cents(1200, &RULES), 91_200);
    }

    #[test]
    fn a_shift_into_a_holiday_splits_exactly_at_midnight() {
        let zone = madrid();
        let holidays = BTreeSet::from([date!(2026 - 12 - 25)]);
        let night = shift(&zone, &holidays, date!(2026 - 12 - 24), "22:00", 6);
        let days = classify(&[night]);
        assert_eq!(
            days[&(date!(2026 - 12 - 24), ())],
            Split {
                base: 120,
                overtime: 0,
                sunday_holiday: 0
            }
        );
        assert_eq!(
            days[&(date!(2026 - 12 - 25), ())],
            Split {
                base: 0,
                overtime: 0,
                sunday_holiday: 240
            }
        );
    }

    #[test]
    fn overtime_on_a_sunday_is_paid_at_the_higher_rate_once() {
        let zone = madrid();
        let holidays = BTreeSet::new();
        let rules = PayRules {
            overtime_percent: 200,
            ..RULES
        };
        let sunday = at(
            &zone,
            &holidays,
            &rules,
            (),
            date!(2026 - 11 - 08),
            "08:00",
            10,
        );
        let days = classify(&[sunday]);
        assert_eq!(
            days[&(date!(2026 - 11 - 08), ())],
            Split {
                base: 0,
                overtime: 120,
                sunday_holiday: 480
            }
        );
    }

    proptest! {
        #[test]
        fn the_parts_sum_to_the_worked_time_and_the_month_to_its_days(
            shifts in prop::collection::vec((0_i64..60 * 24 * 45, 1_i64..=720), 1..40),
            holiday_days in prop::collection::btree_set(0_i64..45, 0..6),
        ) {
            let zone = madrid();
            let origin = datetime!(2026-10-20 00:00 UTC);
            let holidays: BTreeSet<Date> = holiday_days
                .iter()
                .map(|d| origin.date() + Duration::days(*d))
                .collect();
            // Shifts of one person don't overlap: lay them out in order.
            let mut sorted = shifts.clone();
            sorted.sort();
            let mut worked = Vec::new();
            let mut free_from = origin;
            for (offset, minutes) in sorted {
                let start = (origin + Duration::minutes(offset)).max(free_from);
                let end = start + Duration::minutes(minutes);
                worked.push(Worked { start, end, zone: &zone, holidays: &holidays, rules: &RULES, place: () });
                free_from = end;
            }
            let days = classify(&worked);
            let worked_minutes: i64 = worked.iter().map(|w| (w.end - w.start).whole_minutes()).sum();
            let classified: i64 = days.values().map(|s| s.total()).sum();
            prop_assert_eq!(classified, worked_minutes);
            for ((day, ()), split) in &days {
                prop_assert!(split.base >= 0 && split.overtime >= 0 && split.sunday_holiday >= 0);
                let special = day.weekday() == Weekday::Sunday || holidays.contains(day);
                prop_assert!(!special || split.base == 0, "no base time on {}", day);
                prop_assert!(special || split.sunday_holiday == 0, "no Sunday time on {}", day);
                prop_assert!(split.total() <= 24 * 60 + 60);
            }
            let november = totals(&days, date!(2026 - 11 - 01), date!(2026 - 11 - 30));
            let mut by_day = Split::default();
            for ((day, ()), split) in &days {
                if day.month() == time::Month::November {
                    by_day.add(*split);
                }
            }
            prop_assert_eq!(november.get(&()).copied().unwrap_or_default(), by_day);
        }
    }

    /// Thresholds count the day's work at every place; each place's minutes
    /// are priced under its own rules.
    #[test]
    fn two_places_share_the_thresholds_and_keep_their_rules() {
        let zone = madrid();
        let holidays = BTreeSet::new();
        let generous = PayRules {
            overtime_percent: 200,
            ..RULES
        };
        let day = date!(2026 - 11 - 04);
        let days = classify(&[
            at(&zone, &holidays, &RULES, 'a', day, "07:00", 6),
            at(&zone, &holidays, &generous, 'b', day, "14:00", 4),
        ]);
        let split = |base, overtime| Split {
            base,
            overtime,
            sunday_holiday: 0,
        };
        assert_eq!(days[&(day, 'a')], split(360, 0));
        assert_eq!(days[&(day, 'b')], split(120, 120));
        assert_eq!(days[&(day, 'b')].pay_cents(1200, &generous), 7_200);
    }
}
