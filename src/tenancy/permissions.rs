//! The one decision point for what a member may do. Two questions, asked by
//! every route:
//!
//! * may this member see this location? Owners and admins see all of their
//!   tenant's locations, managers and staff the ones granted to them. What a
//!   member can't see is a 404, exactly like a location that doesn't exist;
//!   repositories apply [`LocationVisibility`] in their SQL.
//! * may this member's role do this? [`Member::authorize`] answers with a 403
//!   and a message when it may not.

use super::{Member, Role};
use crate::error::AppError;
use crate::ids::MembershipId;

/// Something a role may or may not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    EditTenantSettings,
    ViewMembers,
    /// Change a member's role or location grants, or remove a member.
    ManageMembers,
    /// Make someone an owner, or demote or remove an owner.
    ManageOwners,
    CreateLocation,
    EditLocation,
    ArchiveLocation,
}

impl Action {
    fn allowed(self, role: Role) -> bool {
        use Role::{Admin, Manager, Owner};
        match self {
            Self::ManageOwners => role == Owner,
            Self::EditLocation => matches!(role, Owner | Admin | Manager),
            Self::EditTenantSettings
            | Self::ViewMembers
            | Self::ManageMembers
            | Self::CreateLocation
            | Self::ArchiveLocation => matches!(role, Owner | Admin),
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::EditTenantSettings => {
                "Only owners and admins can change the organisation's settings."
            }
            Self::ViewMembers => "Only owners and admins can see the member list.",
            Self::ManageMembers => "Only owners and admins can change members.",
            Self::ManageOwners => "Only owners can make, demote or remove owners.",
            Self::CreateLocation => "Only owners and admins can add locations.",
            Self::EditLocation => "Your role does not allow changing locations.",
            Self::ArchiveLocation => "Only owners and admins can archive locations.",
        }
    }
}

/// Which locations a member sees, in the form SQL filters take:
/// `($all OR EXISTS (SELECT 1 FROM location_grants g WHERE … g.membership_id = $membership))`.
#[derive(Clone, Copy, Debug)]
pub struct LocationVisibility {
    pub all: bool,
    pub membership: MembershipId,
}

impl Member {
    /// # Errors
    /// 403 with a message a person can act on.
    pub fn authorize(&self, action: Action) -> Result<(), AppError> {
        if action.allowed(self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(action.refusal().to_owned()))
        }
    }

    pub fn location_visibility(&self) -> LocationVisibility {
        LocationVisibility {
            all: self.role.sees_all_locations(),
            membership: self.membership_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_admins_run_the_tenant_managers_edit_their_locations_staff_read() {
        let allowed = |role: Role| -> Vec<Action> {
            [
                Action::EditTenantSettings,
                Action::ViewMembers,
                Action::ManageMembers,
                Action::ManageOwners,
                Action::CreateLocation,
                Action::EditLocation,
                Action::ArchiveLocation,
            ]
            .into_iter()
            .filter(|action| action.allowed(role))
            .collect()
        };
        assert_eq!(allowed(Role::Owner).len(), 7);
        assert!(!allowed(Role::Admin).contains(&Action::ManageOwners));
        assert_eq!(allowed(Role::Admin).len(), 6);
        assert_eq!(allowed(Role::Manager), vec![Action::EditLocation]);
        assert!(allowed(Role::Staff).is_empty());
    }
}
