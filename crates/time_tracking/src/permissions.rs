//! What each role may do in time tracking, answered by the core's decision
//! point: `member.authorize(TimeAction::…)`. Which employees and kiosks a
//! manager reaches is the other question, answered in SQL by the locations
//! granted to them (as everywhere in the app).

use kernel::tenancy::{Permission, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeAction {
    /// Hire, edit and deactivate employees, and issue their PINs.
    ManageEmployees,
    /// Pair kiosk tablets with a location, and revoke them.
    ManageDevices,
    /// See other employees' shifts, the review queue and correction
    /// requests (everyone sees their own).
    ViewTeamRecords,
    /// Add, correct and delete shifts (always with a reason), and dismiss
    /// correction requests. Staff request corrections instead.
    EditShifts,
    /// The feed of every edited shift.
    ViewEditFeed,
    /// Recompute the tamper-evident log.
    VerifyLog,
    /// Record and remove employees' paid absences.
    RecordAbsences,
    /// Set pay rules and the locations' holiday calendars.
    ManagePayRules,
    /// Download the payroll, and see the labour-cost forecast.
    Payroll,
}

impl TimeAction {
    pub const ALL: [TimeAction; 9] = [
        TimeAction::ManageEmployees,
        TimeAction::ManageDevices,
        TimeAction::ViewTeamRecords,
        TimeAction::EditShifts,
        TimeAction::ViewEditFeed,
        TimeAction::VerifyLog,
        TimeAction::RecordAbsences,
        TimeAction::ManagePayRules,
        TimeAction::Payroll,
    ];
}

impl Permission for TimeAction {
    /// Owners and admins everywhere, managers at their locations; staff
    /// see only their own records. The owner answers for the records to an
    /// inspector: the edit feed and the log's check are theirs.
    fn allowed(self, role: Role) -> bool {
        match self {
            Self::ManageEmployees
            | Self::ManageDevices
            | Self::ViewTeamRecords
            | Self::EditShifts
            | Self::RecordAbsences => role != Role::Staff,
            Self::ManagePayRules | Self::Payroll => matches!(role, Role::Owner | Role::Admin),
            Self::ViewEditFeed | Self::VerifyLog => role == Role::Owner,
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::ManageEmployees => "Only owners, admins and managers can manage employees.",
            Self::ManageDevices => "Only owners, admins and managers can pair or revoke kiosks.",
            Self::ViewTeamRecords => "You can see your own time records only.",
            Self::EditShifts => {
                "Only owners, admins and managers can edit shifts: request a correction instead."
            }
            Self::ViewEditFeed => "Only owners can see the feed of edited shifts.",
            Self::VerifyLog => "Only owners can verify the time-record log.",
            Self::RecordAbsences => "Only owners, admins and managers can record absences.",
            Self::ManagePayRules => {
                "Only owners and admins can change pay rules and holiday calendars."
            }
            Self::Payroll => "Only owners and admins can see payroll.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_time_tracking_matrix() {
        kernel::tenancy::permissions::assert_matrix(
            &[
                (TimeAction::ManageEmployees, [true, true, true, false]),
                (TimeAction::ManageDevices, [true, true, true, false]),
                (TimeAction::ViewTeamRecords, [true, true, true, false]),
                (TimeAction::EditShifts, [true, true, true, false]),
                (TimeAction::ViewEditFeed, [true, false, false, false]),
                (TimeAction::VerifyLog, [true, false, false, false]),
                (TimeAction::RecordAbsences, [true, true, true, false]),
                (TimeAction::ManagePayRules, [true, true, false, false]),
                (TimeAction::Payroll, [true, true, false, false]),
            ],
            &TimeAction::ALL,
        );
    }
}
