//! Signing up: a new user with their own tenant (its owner membership and
//! a first location), signed straight in, with a link to confirm the email.

use serde::Deserialize;

use super::email::Email;
use super::password::{self, Password};
use super::{EMAIL_TAKEN, insert_user, tokens, verification};
use crate::db::Db;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::ids::{TenantId, UserId};
use crate::rate_limits::{self, Limit};
use crate::tenancy::{Intent, Tenant, for_tenant};
use crate::tenants::ValidTenant;
use crate::validation::{self, FieldErrors};

/// What the signup form and the API send.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct SignupInput {
    pub email: String,
    /// 10 to 128 characters, not a common password.
    pub password: String,
    /// The organisation's name; also the first location's.
    #[serde(alias = "organization")]
    pub organisation: String,
    /// An IANA time zone name for the organisation; UTC when left out.
    #[serde(default)]
    pub time_zone: String,
}

/// A signup that passed validation.
pub struct ValidSignup {
    email: Email,
    password: Password,
    tenant: ValidTenant,
}

impl SignupInput {
    /// # Errors
    /// Each field that is wrong, with a message.
    pub fn validate(&self) -> Result<ValidSignup, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = Email::parse(&self.email)
            .map_err(|message| errors.add("email", message))
            .ok();
        let password = Password::parse(&self.password)
            .map_err(|message| errors.add("password", message))
            .ok();
        let tenant = first_tenant(&mut errors, &self.organisation, &self.time_zone);
        match (email, password) {
            (Some(email), Some(password)) => errors.or_ok(ValidSignup {
                email,
                password,
                tenant,
            }),
            _ => Err(errors),
        }
    }
}

/// The new user's first organisation, as the signup forms name it: UTC
/// when no time zone is given.
fn first_tenant(errors: &mut FieldErrors, organisation: &str, time_zone: &str) -> ValidTenant {
    let time_zone = if time_zone.trim().is_empty() {
        "UTC"
    } else {
        time_zone
    };
    ValidTenant {
        name: validation::text(errors, "organisation", organisation, true, 100),
        time_zone: validation::time_zone(errors, "time_zone", time_zone),
    }
}

/// Creates the user, their tenant, its owner membership and a first
/// location, in one transaction. The inner error is the user's to fix (the
/// email is taken).
pub async fn create(
    db: &Db,
    signup: ValidSignup,
) -> Result<Result<(UserId, Tenant), FieldErrors>, AppError> {
    let password_hash = password::hash(signup.password).await?;
    let mut scope = for_tenant(db, TenantId::new(), Intent::Write).await?;
    let Some(user) = insert_user(&mut scope, &signup.email, Some(&password_hash)).await? else {
        return Ok(Err(FieldErrors::single("email", EMAIL_TAKEN)));
    };
    let tenant = crate::tenants::insert(&mut scope, user, &signup.tenant).await?;
    scope.commit().await?;
    Ok(Ok((user, tenant)))
}

/// A signup under the rate limits: every attempt counts against the
/// address, and a valid one against its email.
///
/// # Errors
/// 429 over a limit, 422 for invalid input; a database failure.
pub async fn attempt_signup(
    state: &AppState,
    client: ClientAddress,
    input: &SignupInput,
) -> Result<Result<(UserId, Tenant), FieldErrors>, AppError> {
    state.rate_limits.check_address(Limit::Signup, client.0)?;
    let valid = match input.validate() {
        Ok(valid) => valid,
        Err(errors) => return Ok(Err(errors)),
    };
    rate_limits::count_account(&state.db, Limit::Signup, valid.email.as_str()).await?;
    let email = valid.email.clone();
    let created = create(&state.db, valid).await?;
    if let Ok((user, _)) = &created {
        // The account exists now: a failure here must not undo it, and the
        // banner offers another link.
        if let Err(error) =
            verification::send_link(state, tokens::Purpose::VerifyEmail, *user, &email).await
        {
            tracing::error!(%error, "cannot send the verification email after signup");
        }
    }
    Ok(created)
}

/// A person as a sign-in provider vouched for them: the provider's key,
/// its issuer, its stable id for them there, and the address it verified.
#[derive(Clone, Debug, serde::Serialize, Deserialize)]
pub struct ProviderIdentity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Email,
}

/// What the page that finishes a signup through a provider asks for.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OrganisationInput {
    #[serde(alias = "organization")]
    pub organisation: String,
    #[serde(default)]
    pub time_zone: String,
}

impl OrganisationInput {
    /// # Errors
    /// Each field that is wrong, with a message.
    pub fn validate(&self) -> Result<ValidTenant, FieldErrors> {
        let mut errors = FieldErrors::default();
        let tenant = first_tenant(&mut errors, &self.organisation, &self.time_zone);
        errors.or_ok(tenant)
    }
}

/// Creates a user who signs in through a provider: no password, the
/// identity linked, and their first tenant, in one transaction; then the
/// address the provider verified is marked so. The inner error says what
/// was taken (the email, or the identity by a signup at the same moment).
pub async fn create_with_identity(
    db: &Db,
    identity: &ProviderIdentity,
    tenant: &ValidTenant,
) -> Result<Result<(UserId, Tenant), FieldErrors>, AppError> {
    let mut scope = for_tenant(db, TenantId::new(), Intent::Write).await?;
    let Some(user) = insert_user(&mut scope, &identity.email, None).await? else {
        return Ok(Err(FieldErrors::single("organisation", EMAIL_TAKEN)));
    };
    let linked = super::insert_identity(&mut scope, user, identity).await?;
    if !linked {
        // Another signup took this identity first: this one creates nothing.
        return Ok(Err(FieldErrors::single("organisation", IDENTITY_TAKEN)));
    }
    let tenant = crate::tenants::insert(&mut scope, user, tenant).await?;
    scope.commit().await?;
    super::global::mark_email_verified(db, user, &identity.email).await?;
    Ok(Ok((user, tenant)))
}

/// The message for a provider account that signs in another user already.
pub const IDENTITY_TAKEN: &str =
    "That account is linked to another user here already: sign in with it.";
