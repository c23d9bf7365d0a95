//! Field-level validation errors, shared by pages (shown beside each field)
//! and the JSON API (one 422 naming the fields).

use crate::error::AppError;

#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    /// The message for `field`, for a form template.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }

    /// `Ok(value)` when no error was added.
    ///
    /// # Errors
    /// The errors collected.
    pub fn or_ok<T>(self, value: T) -> Result<T, Self> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// For a page: the errors of fields the form doesn't show (the API's
    /// names for them, or a rule on the whole input) move to its top, under
    /// `form`; the others stay beside their fields.
    #[must_use]
    pub fn beside(self, shown: &[&str]) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|(field, message)| {
                    if shown.contains(&field) {
                        (field, message)
                    } else {
                        ("form", message)
                    }
                })
                .collect(),
        )
    }

    /// One error, for a rule only the database can check (a name taken).
    pub fn single(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }
}

/// Why a write was refused: input the user can fix, or a fault. Repository
/// functions that write return it, so a page shows the first beside its
/// fields (and the API answers 422 naming them, through `AppError`) without
/// reading a message back out of an error.
#[derive(Debug)]
pub enum WriteError {
    Invalid(FieldErrors),
    Failed(AppError),
}

impl From<FieldErrors> for WriteError {
    fn from(errors: FieldErrors) -> Self {
        Self::Invalid(errors)
    }
}

impl From<AppError> for WriteError {
    fn from(error: AppError) -> Self {
        Self::Failed(error)
    }
}

impl From<sqlx::Error> for WriteError {
    fn from(error: sqlx::Error) -> Self {
        Self::Failed(error.into())
    }
}

impl From<WriteError> for AppError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Invalid(errors) => errors.into(),
            WriteError::Failed(error) => error,
        }
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        let message = errors
            .0
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect::<Vec<_>>()
            .join("; ");
        AppError::Unprocessable(message)
    }
}

/// Trims `value` and checks its length in characters, for a field that is
/// one line (a name, an address): line breaks and tabs are refused too.
/// (Other control characters never get this far: `http::extract`.)
pub fn text(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    required: bool,
    max: usize,
) -> String {
    let value = paragraph(errors, field, value, required, max);
    if value.contains(['\n', '\r', '\t']) {
        errors.add(field, "Must be one line, without line breaks or tabs.");
    }
    value
}

/// Trims `value` and checks its length in characters, for free text that
/// may run over several lines (a message, a note).
pub fn paragraph(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    required: bool,
    max: usize,
) -> String {
    let value = value.trim();
    if required && value.is_empty() {
        errors.add(field, "This field is required.");
    } else if value.chars().count() > max {
        errors.add(field, format!("At most {max} characters."));
    }
    value.to_owned()
}

/// A calendar date written `YYYY-MM-DD`, as date inputs send it, in the
/// years 1900 to 2999: a business's dates, far enough from the limits of
/// `time` that the instants around a day (a time zone and a day either
/// side) never overflow.
pub fn parse_date(text: &str) -> Option<time::Date> {
    let mut parts = text.trim().splitn(3, '-');
    let year = parts
        .next()?
        .parse()
        .ok()
        .filter(|year| (1900..=2999).contains(year))?;
    let month = time::Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year, month, parts.next()?.parse().ok()?).ok()
}

/// Checks an IANA time zone name (`Europe/Madrid`) against the bundled
/// time zone database.
pub fn time_zone(errors: &mut FieldErrors, field: &'static str, value: &str) -> String {
    let value = value.trim();
    if jiff::tz::db().get(value).is_err() {
        errors.add(
            field,
            "Pick a time zone from the list (an IANA name such as Europe/Madrid).",
        );
    }
    value.to_owned()
}

/// The time zones offered in forms, sorted, as (value, label) pairs for the
/// `select` form macro. Legacy aliases without a region ("EST") are left out.
pub fn time_zone_options() -> &'static [(String, String)] {
    static OPTIONS: std::sync::LazyLock<Vec<(String, String)>> = std::sync::LazyLock::new(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.to_string())
            .filter(|name| name.contains('/') || name == "UTC")
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| (name.clone(), name.replace('_', " ")))
            .collect()
    });
    &OPTIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_line_field_refuses_line_breaks_and_tabs_and_a_paragraph_keeps_them() {
        for value in ["two\nlines", "a\rb", "a\tb"] {
            let mut errors = FieldErrors::default();
            text(&mut errors, "name", value, true, 100);
            assert_eq!(
                errors.get("name"),
                Some("Must be one line, without line breaks or tabs."),
                "{value:?}"
            );
            let mut errors = FieldErrors::default();
            assert_eq!(paragraph(&mut errors, "note", value, true, 100), value);
            assert_eq!(errors.get("note"), None, "{value:?}");
        }
        let mut errors = FieldErrors::default();
        assert_eq!(
            text(&mut errors, "name", "  Café Sol ", true, 100),
            "Café Sol"
        );
        assert_eq!(errors.get("name"), None);
    }
}
