//! Calendar dates in JSON as `YYYY-MM-DD` (ISO 8601), for
//! `#[serde(with = "dates::date")]` and friends, and wall-clock time in
//! the time zones of locations and tenants (through jiff, which bundles
//! the time-zone database).

use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serializer};
use time::{Date, OffsetDateTime};

/// The time zone named `name`, UTC if the bundled database doesn't know
/// it (names are validated on input, so only a retired name falls back).
pub fn zone(name: &str) -> TimeZone {
    jiff::tz::db().get(name).unwrap_or(TimeZone::UTC)
}

/// `at` on the wall clock of `zone`.
pub fn local(at: OffsetDateTime, zone: &TimeZone) -> jiff::Zoned {
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(zone.clone())
}

/// The calendar date of `at` in `zone`.
pub fn local_date(at: OffsetDateTime, zone: &TimeZone) -> Date {
    let date = local(at, zone).date();
    time::Month::try_from(date.month().unsigned_abs())
        .ok()
        .and_then(|month| {
            Date::from_calendar_date(i32::from(date.year()), month, date.day().unsigned_abs()).ok()
        })
        .unwrap_or_else(|| at.date())
}

/// Today's date in the time zone named `time_zone`.
pub fn today(time_zone: &str) -> Date {
    local_date(OffsetDateTime::now_utc(), &zone(time_zone))
}

/// The first instant of `date` in `zone` (midnight, or the first valid
/// time after it when a clock change skips midnight).
pub fn start_of(date: Date, zone: &TimeZone) -> OffsetDateTime {
    at_local(date, "00:00", zone).unwrap_or_else(|| date.midnight().assume_utc())
}

/// The instant a wall clock in `zone` shows `hh_mm` ("08:02") on `date`
/// (`None` for text that isn't a time; in a clock change's gap, the time
/// after it).
pub fn at_local(date: Date, hh_mm: &str, zone: &TimeZone) -> Option<OffsetDateTime> {
    let (hours, minutes) = hh_mm.trim().split_once(':')?;
    let (hours, minutes): (i8, i8) = (hours.parse().ok()?, minutes.parse().ok()?);
    let civil = jiff::civil::DateTime::new(
        i16::try_from(date.year()).ok()?,
        i8::try_from(u8::from(date.month())).ok()?,
        i8::try_from(date.day()).ok()?,
        hours,
        minutes,
        0,
        0,
    )
    .ok()?;
    let zoned = civil.to_zoned(zone.clone()).ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(zoned.timestamp().as_nanosecond()).ok()
}

/// `at` as HH:MM on the wall clock of `zone`.
pub fn clock(at: OffsetDateTime, zone: &TimeZone) -> String {
    local(at, zone).strftime("%H:%M").to_string()
}

fn parse_or_error<E: serde::de::Error>(text: &str) -> Result<Date, E> {
    kernel::validation::parse_date(text)
        .ok_or_else(|| E::custom(format!("{text:?} is not a date (YYYY-MM-DD)")))
}

pub mod date {
    use super::{Date, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        super::parse_or_error(&String::deserialize(deserializer)?)
    }
}

pub mod option_date {
    use super::{Date, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.collect_str(date),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::parse_or_error(&text))
            .transpose()
    }
}

/// For a patch: absent (`None`), `null` (`Some(None)`) or a date.
pub mod patch_date {
    use super::{Date, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<Date>>, D::Error> {
        super::option_date::deserialize(deserializer).map(Some)
    }
}

/// Hours as a person writes them ("7.5", "7,5" or "7:30"), in minutes, if
/// not negative and at most `max_hours`.
pub fn parse_hours(text: &str, max_hours: i32) -> Option<i32> {
    let text = text.trim();
    let minutes = if let Some((hours, minutes)) = text.split_once(':') {
        let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
        if !(0..60).contains(&minutes) {
            return None;
        }
        hours.checked_mul(60)?.checked_add(minutes)?
    } else {
        let hours: f64 = text.replace(',', ".").parse().ok()?;
        if !(hours.is_finite() && (0.0..=f64::from(max_hours)).contains(&hours)) {
            return None;
        }
        #[allow(clippy::cast_possible_truncation)] // within max_hours, checked above
        let minutes = (hours * 60.0).round() as i32;
        minutes
    };
    (0..=max_hours * 60).contains(&minutes).then_some(minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_read_as_people_write_them() {
        assert_eq!(parse_hours("8", 24), Some(480));
        assert_eq!(parse_hours("7.5", 24), Some(450));
        assert_eq!(parse_hours(" 7,5 ", 24), Some(450));
        assert_eq!(parse_hours("7:30", 24), Some(450));
        assert_eq!(parse_hours("40", 168), Some(2400));
        assert_eq!(parse_hours("7:75", 24), None);
        assert_eq!(parse_hours("24:01", 24), None);
        assert_eq!(parse_hours("-1", 24), None);
        assert_eq!(parse_hours("25", 24), None);
        assert_eq!(parse_hours("NaN", 24), None);
        assert_eq!(parse_hours("eight", 24), None);
    }
}
