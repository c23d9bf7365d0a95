//! The one decision point for what a member may do. Two questions, asked by
//! every route:
//!
//! * may this member see this location? Owners and admins see all of their
//!   tenant's locations, managers and staff the ones granted to them. What a
//!   member can't see is a 404, exactly like a location that doesn't exist;
//!   repositories apply [`LocationVisibility`] in their SQL.
//! * may this member's role do this? [`Member::authorize`] answers with a 403
//!   and a message when it may not. The core's actions are [`Action`]; a
//!   product module names its own (an enum implementing [`Permission`]), and
//!   the same decision point answers for both.

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
    /// Subscribe, change plan, see invoices (the billing issue).
    ManageBilling,
    /// Delete the tenant and its data.
    DeleteTenant,
    /// Download the archive of all the tenant's data.
    ExportTenant,
    /// Create and revoke the tenant's API tokens.
    ManageApiTokens,
    /// Set up single sign-on: the provider, the domains, requiring it.
    ManageSingleSignOn,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::EditTenantSettings,
        Action::ViewMembers,
        Action::ManageMembers,
        Action::ManageOwners,
        Action::ManageBilling,
        Action::DeleteTenant,
        Action::ExportTenant,
        Action::ManageApiTokens,
        Action::ManageSingleSignOn,
    ];
}

/// Something a role may or may not do: the core's tenant-wide [`Action`]s,
/// and each capability's or module's own (`locations::LocationAction`).
pub trait Permission: Copy {
    /// The role × action matrix, for this kind of action.
    fn allowed(self, role: Role) -> bool;
    /// Why a role that may not do it is refused: a sentence for the 403.
    fn refusal(self) -> &'static str;
}

impl Permission for Action {
    /// The role × action matrix: owners do everything; admins everything
    /// but ownership and billing; managers and staff none of these.
    fn allowed(self, role: Role) -> bool {
        use Role::{Admin, Owner};
        match self {
            Self::ManageOwners
            | Self::ManageBilling
            | Self::DeleteTenant
            | Self::ExportTenant
            | Self::ManageSingleSignOn => role == Owner,
            Self::EditTenantSettings
            | Self::ViewMembers
            | Self::ManageMembers
            | Self::ManageApiTokens => matches!(role, Owner | Admin),
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
            Self::ManageBilling => "Only owners can manage billing.",
            Self::DeleteTenant => "Only owners can delete the organisation.",
            Self::ExportTenant => "Only owners can export the organisation's data.",
            Self::ManageApiTokens => "Only owners and admins can manage API tokens.",
            Self::ManageSingleSignOn => "Only owners can set up single sign-on.",
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

impl LocationVisibility {
    /// Every location of the tenant, whoever asks: for reads already
    /// authorised another way (a person's own records) and for operator
    /// commands. (The membership is not consulted when `all` is set.)
    pub fn every_location() -> Self {
        Self {
            all: true,
            membership: MembershipId::from(uuid::Uuid::nil()),
        }
    }
}

impl Member {
    /// # Errors
    /// 403 with a message a person can act on.
    pub fn authorize(&self, action: impl Permission) -> Result<(), AppError> {
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

/// The unit test of a kind of action: `matrix` pins every cell, (action,
/// [owner, admin, manager, staff]), lists `all` in order, and each refusal
/// is a sentence the 403 can show. Public for the modules' unit tests.
pub fn assert_matrix<A: Permission + std::fmt::Debug + PartialEq>(
    matrix: &[(A, [bool; 4])],
    all: &[A],
) {
    let listed: Vec<A> = matrix.iter().map(|(action, _)| *action).collect();
    assert_eq!(listed, all, "the matrix lists every action");
    for &(action, allowed) in matrix {
        for (role, expected) in Role::ALL.into_iter().zip(allowed) {
            assert_eq!(action.allowed(role), expected, "{action:?} for {role:?}");
            let member = Member {
                membership_id: MembershipId::new(),
                user_id: crate::ids::UserId::new(),
                role,
                impersonated_by: None,
            };
            match member.authorize(action) {
                Ok(()) => assert!(expected),
                Err(AppError::Forbidden(message)) => {
                    assert!(!expected, "{action:?} for {role:?}");
                    assert!(message.ends_with('.'), "a sentence: {message}");
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_role_action_matrix() {
        assert_matrix(
            &[
                (Action::EditTenantSettings, [true, true, false, false]),
                (Action::ViewMembers, [true, true, false, false]),
                (Action::ManageMembers, [true, true, false, false]),
                (Action::ManageOwners, [true, false, false, false]),
                (Action::ManageBilling, [true, false, false, false]),
                (Action::DeleteTenant, [true, false, false, false]),
                (Action::ExportTenant, [true, false, false, false]),
                (Action::ManageApiTokens, [true, true, false, false]),
                (Action::ManageSingleSignOn, [true, false, false, false]),
            ],
            &Action::ALL,
        );
    }
}
