//! The payroll as the accountant keys it in: an .xlsx workbook (a summary
//! sheet, then one sheet per location; a bold, frozen header; hours and
//! currency formats) and the same lines as CSV.

use std::collections::HashSet;

use rust_xlsxwriter::{Format, FormatBorder, Workbook, Worksheet, XlsxError};

use super::payroll::{Line, Payroll};
use kernel::billing::Feature;

/// The .xlsx workbook is a plan's feature (`src/plans.rs`); the CSV isn't.
pub const PAYROLL_WORKBOOK: Feature = Feature {
    key: "payroll_workbook",
    name: "The payroll workbook (.xlsx)",
};

/// The columns, in order, with their widths in characters.
const COLUMNS: [(&str, f64); 7] = [
    ("National ID", 16.0),
    ("Name", 30.0),
    ("Base hours", 12.0),
    ("Overtime hours", 15.0),
    ("Holiday hours", 14.0),
    ("Sunday/holiday hours", 21.0),
    ("Gross pay", 16.0),
];

/// Hours with two decimals, from minutes (exact in the workbook's cells:
/// the format rounds only what is shown).
#[allow(clippy::cast_precision_loss)] // minutes in a month are far below 2^52
fn hours(minutes: i64) -> f64 {
    minutes as f64 / 60.0
}

#[allow(clippy::cast_precision_loss)] // cents in a payroll are far below 2^52
fn amount(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// The workbook, as bytes.
///
/// # Errors
/// When the workbook can't be written (never for valid payroll data).
pub fn xlsx(payroll: &Payroll) -> Result<Vec<u8>, XlsxError> {
    let formats = Formats::new(payroll.currency);
    let mut workbook = Workbook::new();
    let mut taken = HashSet::new();
    write_sheet(
        workbook.add_worksheet(),
        &sheet_name("Summary", &mut taken),
        &payroll.summary,
        &payroll.total,
        &formats,
    )?;
    for sheet in &payroll.sheets {
        write_sheet(
            workbook.add_worksheet(),
            &sheet_name(&sheet.location_name, &mut taken),
            &sheet.lines,
            &sheet.total,
            &formats,
        )?;
    }
    workbook.save_to_buffer()
}

struct Formats {
    header: Format,
    hours: Format,
    money: Format,
    total_label: Format,
    total_hours: Format,
    total_money: Format,
}

impl Formats {
    fn new(currency: &str) -> Self {
        let money = format!("#,##0.00 \"{currency}\"");
        let total = |format: Format| format.set_bold().set_border_top(FormatBorder::Thin);
        Self {
            header: Format::new()
                .set_bold()
                .set_border_bottom(FormatBorder::Thin),
            hours: Format::new().set_num_format("0.00"),
            money: Format::new().set_num_format(&money),
            total_label: total(Format::new()),
            total_hours: total(Format::new().set_num_format("0.00")),
            total_money: total(Format::new().set_num_format(&money)),
        }
    }
}

fn write_sheet(
    sheet: &mut Worksheet,
    name: &str,
    lines: &[Line],
    total: &Line,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name(name)?;
    for (column, (title, width)) in (0..).zip(COLUMNS) {
        sheet.write_string_with_format(0, column, title, &formats.header)?;
        sheet.set_column_width(column, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let mut row = 1;
    for line in lines {
        write_line(sheet, row, line, &formats.hours, &formats.money, None)?;
        row += 1;
    }
    write_line(
        sheet,
        row,
        total,
        &formats.total_hours,
        &formats.total_money,
        Some(&formats.total_label),
    )?;
    Ok(())
}

fn write_line(
    sheet: &mut Worksheet,
    row: u32,
    line: &Line,
    hours_format: &Format,
    money_format: &Format,
    label_format: Option<&Format>,
) -> Result<(), XlsxError> {
    match label_format {
        Some(bold) => {
            sheet.write_string_with_format(row, 0, "", bold)?;
            sheet.write_string_with_format(row, 1, &line.name, bold)?;
        }
        None => {
            sheet.write_string(row, 0, &line.national_id)?;
            sheet.write_string(row, 1, &line.name)?;
        }
    }
    for (column, minutes) in [
        (2, line.base_minutes),
        (3, line.overtime_minutes),
        (4, line.holiday_minutes),
        (5, line.sunday_holiday_minutes),
    ] {
        sheet.write_number_with_format(row, column, hours(minutes), hours_format)?;
    }
    sheet.write_number_with_format(row, 6, amount(line.gross_cents), money_format)?;
    Ok(())
}

/// A valid, unused sheet name for `wanted`: at most 31 characters, none of
/// `[]:*?/\`, and not one already taken (whatever the case).
fn sheet_name(wanted: &str, taken: &mut HashSet<String>) -> String {
    let clean: String = wanted
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '-' } else { c })
        .collect();
    let clean = clean.trim().trim_matches('\'');
    let base: String = if clean.is_empty() { "Location" } else { clean }
        .chars()
        .take(31)
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.to_lowercase()) {
        let suffix = format!(" ({n})");
        let room = 31 - suffix.chars().count();
        name = format!("{}{suffix}", base.chars().take(room).collect::<String>());
        n += 1;
    }
    name
}

/// The same lines as CSV: one row per location and employee (the location
/// first), hours and pay with two decimals.
///
/// # Errors
/// When the CSV can't be written (never in memory).
pub fn csv(payroll: &Payroll) -> Result<Vec<u8>, csv::Error> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(
        std::iter::once("Location".to_owned()).chain(COLUMNS.iter().map(|(title, _)| {
            if *title == "Gross pay" {
                format!("Gross pay ({})", payroll.currency)
            } else {
                (*title).to_owned()
            }
        })),
    )?;
    let two = |minutes: i64| {
        let hundredths = (minutes * 100 + 30) / 60;
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    };
    for sheet in &payroll.sheets {
        for line in &sheet.lines {
            csv.write_record([
                sheet.location_name.as_str(),
                line.national_id.as_str(),
                line.name.as_str(),
                &two(line.base_minutes),
                &two(line.overtime_minutes),
                &two(line.holiday_minutes),
                &two(line.sunday_holiday_minutes),
                &format!("{}.{:02}", line.gross_cents / 100, line.gross_cents % 100),
            ])?;
        }
    }
    csv.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_valid_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(sheet_name("Summary", &mut taken), "Summary");
        assert_eq!(sheet_name("summary", &mut taken), "summary (2)");
        assert_eq!(
            sheet_name("Bar [Centre]: 1/2", &mut taken),
            "Bar -Centre-- 1-2"
        );
        let long = "A very long location name that Excel would refuse";
        let first = sheet_name(long, &mut taken);
        let second = sheet_name(long, &mut taken);
        assert_eq!(first.chars().count(), 31);
        assert_eq!(second.chars().count(), 31);
        assert!(second.ends_with(" (2)"));
        assert_eq!(sheet_name("''", &mut taken), "Location");
    }
}
