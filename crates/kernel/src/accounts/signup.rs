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
        let time_zone = if self.time_zone.trim().is_empty() {
            "UTC"
        } else {
            &self.time_zone
        };
        let tenant = ValidTenant {
            name: validation::text(&mut errors, "organisation", &self.organisation, true, 100),
            time_zone: validation::time_zone(&mut errors, "time_zone", time_zone),
        };
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

/// Creates the user, their tenant, its owner membership and a first
/// location, in one transaction. The inner error is the user's to fix (the
/// email is taken).
pub async fn create(
    db: &Db,
    signup: ValidSignup,
) -> Result<Result<(UserId, Tenant), FieldErrors>, AppError> {
    let password_hash = password::hash(signup.password).await?;
    let mut scope = for_tenant(db, TenantId::new(), Intent::Write).await?;
    let Some(user) = insert_user(&mut scope, &signup.email, &password_hash).await? else {
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
