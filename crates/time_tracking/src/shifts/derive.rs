//! Shifts are derived from an employee's punches, never stored: in opens a
//! shift, out closes it, in device time (what the kiosk saw), so punches
//! that reach the server late and out of order still land in place. What
//! doesn't fit is resolved the same way every time and flagged for review,
//! never dropped:
//! * a shift open longer than the tenant's cap counts as closed at the cap
//!   ([`Flag::MissingClockOut`]), decided when shifts are read or the next
//!   punch arrives, so no scheduler is needed;
//! * a second in while a shift is open joins that shift ([`Flag::DoubleIn`]);
//! * an out with no shift open is a shift of its own with no start and no
//!   counted time ([`Flag::MissingClockIn`]);
//! * a punch that reached the server after a later punch of the same
//!   employee flags its shift ([`Flag::LateArrival`]).

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use super::super::punches::Kind;
use super::super::{EditId, EmployeeId, PunchId, dates};
use kernel::ids::LocationId;

/// A recorded punch, as shifts are derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub id: PunchId,
    pub employee_id: EmployeeId,
    pub location_id: LocationId,
    pub kind: Kind,
    /// The device's time.
    pub at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    /// The edit that added it, if a person did rather than a kiosk.
    pub edit_id: Option<EditId>,
}

/// Why a shift needs a person's look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Open longer than the cap: counted as closed at the cap.
    MissingClockOut,
    /// A second clock-in while the shift was open.
    DoubleIn,
    /// A clock-out with no shift open: no time is counted.
    MissingClockIn,
    /// One of its punches reached the server after a later punch of the
    /// same employee (an offline kiosk syncing late).
    LateArrival,
}

impl Flag {
    pub fn label(self) -> &'static str {
        match self {
            Self::MissingClockOut => "missing clock-out",
            Self::DoubleIn => "clocked in twice",
            Self::MissingClockIn => "missing clock-in",
            Self::LateArrival => "arrived late, out of order",
        }
    }
}

/// A shift, as derived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Shift {
    /// Its first punch's id: what an edit names the shift by.
    pub id: PunchId,
    pub employee_id: EmployeeId,
    /// Where it started (where the out was, for a missing clock-in).
    pub location_id: LocationId,
    /// `None` for a clock-out with no clock-in.
    #[serde(with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    /// The clock-out, or the cap when it is missing; `None` while open.
    #[serde(with = "time::serde::rfc3339::option")]
    pub end: Option<OffsetDateTime>,
    /// Counted working time: to the end, or to now while open.
    pub minutes: i64,
    pub flags: Vec<Flag>,
    /// Whether an edit made it (rather than kiosk punches).
    pub edited: bool,
    pub punch_ids: Vec<PunchId>,
}

impl Shift {
    /// The shift a punch begins when none is open: an out begins (and
    /// ends) one with no clock-in.
    fn begun_by(punch: &Recorded) -> Self {
        let clocked_in = punch.kind == Kind::In;
        Self {
            id: punch.id,
            employee_id: punch.employee_id,
            location_id: punch.location_id,
            start: clocked_in.then_some(punch.at),
            end: None,
            minutes: 0,
            flags: if clocked_in {
                Vec::new()
            } else {
                vec![Flag::MissingClockIn]
            },
            edited: punch.edit_id.is_some(),
            punch_ids: vec![punch.id],
        }
    }

    fn join(&mut self, punch: &Recorded) {
        self.punch_ids.push(punch.id);
        self.edited |= punch.edit_id.is_some();
    }

    fn flag(&mut self, flag: Flag) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    fn close(mut self, end: OffsetDateTime) -> Self {
        self.end = Some(end);
        self.minutes = minutes(self.start.map_or(Duration::ZERO, |start| end - start));
        self
    }

    pub fn is_open(&self) -> bool {
        self.end.is_none()
    }

    /// The instant the shift counts from, for ordering and for the day it
    /// belongs to (its clock-out when it has no clock-in).
    pub fn anchor(&self) -> OffsetDateTime {
        self.start
            .or(self.end)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The calendar day the shift belongs to in `zone`: the day it started
    /// (an overnight shift is one shift, on the day it began).
    pub fn day(&self, zone: &TimeZone) -> Date {
        dates::local_date(self.anchor(), zone)
    }

    /// Its counted minutes split by calendar day in `zone` (reports count
    /// an overnight shift's hours on each day they fell on).
    pub fn minutes_by_day(&self, zone: &TimeZone) -> Vec<(Date, i64)> {
        let Some(start) = self.start else {
            return Vec::new();
        };
        let end = start + Duration::minutes(self.minutes);
        let mut days = Vec::new();
        let mut from = start;
        while from < end {
            let day = dates::local_date(from, zone);
            let until = day
                .next_day()
                .map_or(end, |next| dates::start_of(next, zone).min(end));
            days.push((day, minutes(until - from)));
            from = until;
        }
        days
    }
}

fn minutes(duration: Duration) -> i64 {
    duration.whole_minutes().max(0)
}

/// The shifts of one employee's punches (in any order), by start. `cap` is
/// the tenant's shift cap, `now` closes shifts open past it.
pub fn derive(punches: &[Recorded], cap: Duration, now: OffsetDateTime) -> Vec<Shift> {
    let mut punches: Vec<&Recorded> = punches.iter().collect();
    punches.sort_by_key(|p| (p.at, p.received_at, p.id));
    let late = arrived_out_of_order(&punches);
    let mut shifts = Vec::new();
    let mut open: Option<Shift> = None;
    for (punch, late) in punches.into_iter().zip(late) {
        if let Some(shift) = open.take_if(|s| s.start.is_some_and(|start| punch.at > start + cap)) {
            shifts.push(capped(shift, cap));
        }
        let mut shift = match open.take() {
            Some(mut shift) => {
                shift.join(punch);
                if punch.kind == Kind::In {
                    shift.flag(Flag::DoubleIn);
                }
                shift
            }
            None => Shift::begun_by(punch),
        };
        if late {
            shift.flag(Flag::LateArrival);
        }
        match punch.kind {
            Kind::In => open = Some(shift),
            Kind::Out => shifts.push(shift.close(punch.at)),
        }
    }
    if let Some(mut shift) = open {
        let start = shift.start.unwrap_or(now);
        if now > start + cap {
            shifts.push(capped(shift, cap));
        } else {
            shift.minutes = minutes(now - start);
            shifts.push(shift);
        }
    }
    shifts
}

fn capped(shift: Shift, cap: Duration) -> Shift {
    let end = shift
        .start
        .map(|start| start + cap)
        .unwrap_or(shift.anchor());
    let mut shift = shift.close(end);
    shift.flag(Flag::MissingClockOut);
    shift
}

/// For punches in device-time order: whether each kiosk punch reached the
/// server after a kiosk punch that comes later in device time. (Punches an
/// edit added are written after the fact by design: neither late nor a
/// reason to call another punch late.)
fn arrived_out_of_order(punches: &[&Recorded]) -> Vec<bool> {
    let mut late = vec![false; punches.len()];
    let mut earliest_later: Option<OffsetDateTime> = None;
    for (i, punch) in punches.iter().enumerate().rev() {
        if punch.edit_id.is_some() {
            continue;
        }
        late[i] = earliest_later.is_some_and(|later| punch.received_at > later);
        earliest_later =
            Some(earliest_later.map_or(punch.received_at, |t| t.min(punch.received_at)));
    }
    late
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const CAP: Duration = Duration::hours(12);

    fn employee() -> EmployeeId {
        EmployeeId::from(uuid::Uuid::from_u128(1))
    }

    fn location() -> LocationId {
        LocationId::from(uuid::Uuid::from_u128(2))
    }

    /// A punch received the moment it was made.
    fn punch(kind: Kind, at: OffsetDateTime) -> Recorded {
        Recorded {
            id: PunchId::new(),
            employee_id: employee(),
            location_id: location(),
            kind,
            at,
            received_at: at,
            edit_id: None,
        }
    }

    fn times(shifts: &[Shift]) -> Vec<(Option<OffsetDateTime>, Option<OffsetDateTime>, i64)> {
        shifts.iter().map(|s| (s.start, s.end, s.minutes)).collect()
    }

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    #[test]
    fn in_then_out_is_one_closed_shift() {
        let punches = [
            punch(Kind::In, datetime!(2026-11-20 08:02 UTC)),
            punch(Kind::Out, datetime!(2026-11-20 16:00 UTC)),
        ];
        let shifts = derive(&punches, CAP, NOW);
        assert_eq!(
            times(&shifts),
            [(Some(punches[0].at), Some(punches[1].at), 7 * 60 + 58)]
        );
        assert_eq!(shifts[0].id, punches[0].id);
        assert_eq!(shifts[0].punch_ids, [punches[0].id, punches[1].id]);
        assert!(shifts[0].flags.is_empty());
    }

    #[test]
    fn an_overnight_shift_is_one_shift_split_by_calendar_day() {
        let madrid = dates::zone("Europe/Madrid");
        let punches = [
            punch(Kind::In, datetime!(2026-11-20 21:00 UTC)), // 22:00 in Madrid
            punch(Kind::Out, datetime!(2026-11-21 05:30 UTC)), // 06:30
        ];
        let shifts = derive(&punches, CAP, NOW);
        assert_eq!(shifts.len(), 1);
        assert_eq!(shifts[0].minutes, 8 * 60 + 30);
        assert!(shifts[0].flags.is_empty());
        assert_eq!(shifts[0].day(&madrid), time::macros::date!(2026 - 11 - 20));
        assert_eq!(
            shifts[0].minutes_by_day(&madrid),
            [
                (time::macros::date!(2026 - 11 - 20), 2 * 60),
                (time::macros::date!(2026 - 11 - 21), 6 * 60 + 30),
            ]
        );
    }

    #[test]
    fn a_shift_open_past_the_cap_counts_as_closed_at_the_cap() {
        let start = datetime!(2026-11-20 08:00 UTC);
        let shifts = derive(&[punch(Kind::In, start)], CAP, NOW);
        assert_eq!(times(&shifts), [(Some(start), Some(start + CAP), 12 * 60)]);
        assert_eq!(shifts[0].flags, [Flag::MissingClockOut]);
    }

    #[test]
    fn a_shift_within_the_cap_is_open_and_counts_to_now() {
        let start = NOW - Duration::hours(3);
        let shifts = derive(&[punch(Kind::In, start)], CAP, NOW);
        assert_eq!(times(&shifts), [(Some(start), None, 180)]);
        assert!(shifts[0].is_open() && shifts[0].flags.is_empty());
    }

    #[test]
    fn the_next_punch_after_the_cap_closes_the_forgotten_shift() {
        let punches = [
            punch(Kind::In, datetime!(2026-11-20 08:00 UTC)),
            punch(Kind::In, datetime!(2026-11-21 08:00 UTC)),
            punch(Kind::Out, datetime!(2026-11-21 16:00 UTC)),
        ];
        let shifts = derive(&punches, CAP, NOW);
        assert_eq!(
            times(&shifts),
            [
                (Some(punches[0].at), Some(punches[0].at + CAP), 720),
                (Some(punches[1].at), Some(punches[2].at), 480),
            ]
        );
        assert_eq!(shifts[0].flags, [Flag::MissingClockOut]);
        assert!(shifts[1].flags.is_empty(), "the next day's shift is clean");
    }

    #[test]
    fn an_out_long_after_the_cap_has_no_clock_in_of_its_own() {
        let punches = [
            punch(Kind::In, datetime!(2026-11-20 08:00 UTC)),
            punch(Kind::Out, datetime!(2026-11-20 21:00 UTC)),
        ];
        let shifts = derive(&punches, CAP, NOW);
        assert_eq!(shifts.len(), 2);
        assert_eq!(shifts[0].flags, [Flag::MissingClockOut]);
        assert_eq!(shifts[1].flags, [Flag::MissingClockIn]);
    }

    #[test]
    fn a_second_in_while_open_joins_the_shift_and_is_flagged() {
        let punches = [
            punch(Kind::In, datetime!(2026-11-20 08:00 UTC)),
            punch(Kind::In, datetime!(2026-11-20 08:01 UTC)),
            punch(Kind::Out, datetime!(2026-11-20 16:00 UTC)),
        ];
        let shifts = derive(&punches, CAP, NOW);
        assert_eq!(
            times(&shifts),
            [(Some(punches[0].at), Some(punches[2].at), 480)]
        );
        assert_eq!(shifts[0].flags, [Flag::DoubleIn]);
        assert_eq!(shifts[0].punch_ids.len(), 3, "no punch is dropped");
    }

    #[test]
    fn an_out_with_nothing_open_is_kept_and_counts_nothing() {
        let out = punch(Kind::Out, datetime!(2026-11-20 16:00 UTC));
        let shifts = derive(std::slice::from_ref(&out), CAP, NOW);
        assert_eq!(times(&shifts), [(None, Some(out.at), 0)]);
        assert_eq!(shifts[0].flags, [Flag::MissingClockIn]);
        assert_eq!(shifts[0].id, out.id);
        assert_eq!(shifts[0].anchor(), out.at);
    }

    #[test]
    fn punches_arriving_late_and_out_of_order_are_placed_by_device_time_and_flagged() {
        // An offline kiosk kept Monday's in and out; Tuesday's punches, at
        // another kiosk, reached the server first.
        let mut monday_in = punch(Kind::In, datetime!(2026-11-16 08:00 UTC));
        let mut monday_out = punch(Kind::Out, datetime!(2026-11-16 16:00 UTC));
        let tuesday_in = punch(Kind::In, datetime!(2026-11-17 08:00 UTC));
        let tuesday_out = punch(Kind::Out, datetime!(2026-11-17 16:00 UTC));
        monday_in.received_at = datetime!(2026-11-17 18:00 UTC);
        monday_out.received_at = datetime!(2026-11-17 18:00 UTC);
        let arrival_order = [tuesday_in, tuesday_out, monday_in, monday_out];
        let shifts = derive(&arrival_order, CAP, NOW);
        assert_eq!(
            times(&shifts),
            [
                (Some(arrival_order[2].at), Some(arrival_order[3].at), 480),
                (Some(arrival_order[0].at), Some(arrival_order[1].at), 480),
            ]
        );
        assert_eq!(shifts[0].flags, [Flag::LateArrival]);
        assert!(shifts[1].flags.is_empty());
    }

    #[test]
    fn a_queue_synced_late_but_in_order_is_not_an_anomaly() {
        let mut punches = [
            punch(Kind::In, datetime!(2026-11-20 08:00 UTC)),
            punch(Kind::Out, datetime!(2026-11-20 16:00 UTC)),
        ];
        for p in &mut punches {
            p.received_at = datetime!(2026-11-20 18:00 UTC);
        }
        assert!(derive(&punches, CAP, NOW)[0].flags.is_empty());
    }

    #[test]
    fn a_shift_made_by_an_edit_says_so_and_is_not_late() {
        let monday = [
            punch(Kind::In, datetime!(2026-11-16 08:00 UTC)),
            punch(Kind::Out, datetime!(2026-11-16 16:00 UTC)),
        ];
        let tuesday = punch(Kind::In, datetime!(2026-11-17 08:00 UTC));
        let edit = Some(EditId::new());
        let corrected = monday.map(|mut p| {
            p.edit_id = edit;
            p.received_at = NOW;
            p
        });
        let shifts = derive(
            &[corrected[0].clone(), corrected[1].clone(), tuesday],
            CAP,
            NOW,
        );
        assert!(shifts[0].edited);
        assert!(shifts[0].flags.is_empty(), "{:?}", shifts[0].flags);
        assert!(!shifts[1].edited);
    }
}
