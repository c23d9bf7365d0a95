//! What each role may do in time tracking, answered by the core's decision
//! point: `member.authorize(TimeAction::…)`. Which employees and kiosks a
//! manager reaches is the other question, answered in SQL by the locations
//! granted to them (as everywhere in the app).

use crate::tenancy::{Permission, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeAction {
    /// Hire, edit and deactivate employees, and issue their PINs.
    ManageEmployees,
    /// Pair kiosk tablets with a location, and revoke them.
    ManageDevices,
}

impl TimeAction {
    pub const ALL: [TimeAction; 2] = [TimeAction::ManageEmployees, TimeAction::ManageDevices];
}

impl Permission for TimeAction {
    /// Owners and admins everywhere, managers at their locations; staff
    /// see only their own records.
    fn allowed(self, role: Role) -> bool {
        match self {
            Self::ManageEmployees | Self::ManageDevices => role != Role::Staff,
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::ManageEmployees => "Only owners, admins and managers can manage employees.",
            Self::ManageDevices => "Only owners, admins and managers can pair or revoke kiosks.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (action, [owner, admin, manager, staff])
    const MATRIX: [(TimeAction, [bool; 4]); 2] = [
        (TimeAction::ManageEmployees, [true, true, true, false]),
        (TimeAction::ManageDevices, [true, true, true, false]),
    ];

    #[test]
    fn every_cell_of_the_time_tracking_matrix() {
        assert_eq!(MATRIX.map(|(action, _)| action), TimeAction::ALL);
        for (action, allowed) in MATRIX {
            for (role, expected) in Role::ALL.into_iter().zip(allowed) {
                assert_eq!(action.allowed(role), expected, "{action:?} for {role:?}");
            }
            assert!(action.refusal().ends_with('.'));
        }
    }
}
