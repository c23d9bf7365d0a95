//! Calendar dates in JSON as `YYYY-MM-DD` (ISO 8601), for
//! `#[serde(with = "dates::date")]` and friends, and the time zones of
//! locations and tenants.

use serde::{Deserialize, Deserializer, Serializer};
use time::Date;

/// The time zone named `name`, UTC if the bundled database doesn't know
/// it (names are validated on input, so only a retired name falls back).
pub fn zone(name: &str) -> jiff::tz::TimeZone {
    jiff::tz::db().get(name).unwrap_or(jiff::tz::TimeZone::UTC)
}

fn parse_or_error<E: serde::de::Error>(text: &str) -> Result<Date, E> {
    crate::validation::parse_date(text)
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
