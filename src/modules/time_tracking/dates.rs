//! Calendar dates in JSON as `YYYY-MM-DD` (ISO 8601), for
//! `#[serde(with = "dates::date")]` and friends.

use serde::{Deserialize, Deserializer, Serializer};
use time::Date;

/// `2026-11-23`.
pub fn format(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Parses `YYYY-MM-DD`.
pub fn parse(text: &str) -> Option<Date> {
    let mut parts = text.trim().splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = time::Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn parse_or_error<E: serde::de::Error>(text: &str) -> Result<Date, E> {
    parse(text).ok_or_else(|| E::custom(format!("{text:?} is not a date (YYYY-MM-DD)")))
}

pub mod date {
    use super::{Date, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        super::parse_or_error(&String::deserialize(deserializer)?)
    }
}

pub mod option_date {
    use super::{Date, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_str(&super::format(*date)),
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
