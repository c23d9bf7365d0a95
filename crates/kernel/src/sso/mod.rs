//! Per-tenant single sign-on: a tenant's own OpenID Connect provider (Okta,
//! Microsoft Entra ID, Google Workspace…) for the people at the email
//! domains it has proven it owns. Its records: the connection (tenant-owned,
//! read in the tenant's scope, its client secret sealed by the app) and the
//! claimed domains ([`global`], read before any tenant is known). The
//! doors are the app's (`src/sso`).

pub mod global;

use serde::Deserialize;
use time::OffsetDateTime;

use crate::accounts::email::Email;
use crate::accounts::{CurrentUser, LoginInput};
use crate::billing::Catalog;
use crate::billing::Feature;
use crate::crypto::Keys;
use crate::crypto::sealed::SealedColumn;
use crate::db::Db;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::ids::{RowId, TenantId, UserId};
use crate::tenancy::{Intent, Role, TenantScope, for_tenant};
use crate::validation::{self, FieldErrors};
use crate::{on_tx, row};

/// What plans include to use it (`src/plans.rs`).
pub const SINGLE_SIGN_ON: Feature = Feature {
    key: "single_sign_on",
    name: "Single sign-on",
};

/// The connections' client secrets, sealed (`crypto::sealed`).
pub const CLIENT_SECRET: SealedColumn = SealedColumn {
    table: "sso_connections",
    column: "client_secret",
    purpose: "sso_client_secret",
    tenant_owned: true,
    blind_index: None,
    credential: true,
};

/// The addresses a domain's proof may be mailed to: the administrative
/// mailboxes certificate authorities use for the same question (the
/// CA/Browser Forum's "constructed email to domain contact"), which a
/// mail provider doesn't hand to its users.
pub const ADMIN_MAILBOXES: [&str; 5] = [
    "admin",
    "administrator",
    "hostmaster",
    "postmaster",
    "webmaster",
];

/// Domains whose addresses belong to a mail provider's users, never to
/// one organisation: no tenant may claim them.
const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "aol.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "googlemail.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mail.com",
    "me.com",
    "msn.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "yahoo.com",
    "yandex.com",
    "zoho.com",
];

/// A domain as typed (`Acme.com`, `@acme.com`), written one way.
///
/// # Errors
/// A message for the form: not a domain name, or a public mail domain.
pub fn parse_domain(typed: &str) -> Result<String, &'static str> {
    let domain = typed.trim().trim_start_matches('@').to_ascii_lowercase();
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err("Enter a domain name like example.com.");
    }
    if PUBLIC_MAIL_DOMAINS.contains(&domain.as_str()) {
        return Err(
            "That domain is a public mail service's: only its own organisation's domains can be claimed.",
        );
    }
    Ok(domain)
}

/// The domain of an address, as [`parse_domain`] writes it.
pub fn domain_of(email: &Email) -> &str {
    email
        .as_str()
        .rsplit_once('@')
        .map_or_else(|| email.as_str(), |(_, domain)| domain)
}

/// A tenant's provider. Its secret stays sealed until a round trip needs
/// it ([`Connection::client_secret`]): a sign-in that only asks whether
/// it is required never opens it.
pub struct Connection {
    pub id: RowId,
    pub issuer: String,
    pub client_id: String,
    /// `None` after a tenant import: entered again before it signs anyone
    /// in.
    sealed_secret: Option<String>,
    /// The role people from its domains join with.
    pub default_role: Role,
    /// People at its verified domains must sign in through it.
    pub required: bool,
    /// A sign-in through the current settings has worked.
    pub worked: bool,
}

row! {
    struct ConnectionRow {
        id: RowId,
        issuer: String,
        client_id: String,
        client_secret: Option<String>,
        default_role: String,
        required: bool,
        worked_at: Option<OffsetDateTime>,
    }
}

impl Connection {
    /// Its secret is saved (not after a tenant import, until entered again).
    pub fn has_secret(&self) -> bool {
        self.sealed_secret.is_some()
    }

    /// The client secret, opened.
    ///
    /// # Errors
    /// No keys configured, or a secret sealed with a key no longer
    /// configured.
    pub fn client_secret(&self, keys: Option<&Keys>) -> Result<String, AppError> {
        let keys =
            keys.ok_or_else(|| AppError::Internal(crate::crypto::CryptoError::NoKeys.to_string()))?;
        let sealed = self.sealed_secret.as_deref().ok_or(AppError::NotFound)?;
        CLIENT_SECRET
            .open(keys, self.id, sealed)
            .map_err(|error| AppError::Internal(format!("sso_connections.client_secret: {error}")))
    }
}

/// The scope's tenant's provider, if it has one.
///
/// # Errors
/// A database failure.
pub async fn connection(scope: &mut TenantScope) -> Result<Option<Connection>, AppError> {
    let tenant = scope.tenant_id();
    let row: Option<ConnectionRow> = on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT id, issuer, client_id, client_secret, default_role, required, worked_at \
         FROM sso_connections WHERE tenant_id = $1"
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await)?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Connection {
        id: row.id,
        issuer: row.issuer,
        client_id: row.client_id,
        sealed_secret: row.client_secret,
        default_role: Role::parse(&row.default_role)?,
        required: row.required,
        worked: row.worked_at.is_some(),
    }))
}

row! {
    /// The scope's tenant, as single sign-on's pages name it.
    pub struct Organisation {
        pub name: String,
        pub slug: String,
    }
}

/// The scope's tenant's name and slug.
///
/// # Errors
/// A database failure.
pub async fn organisation(scope: &mut TenantScope) -> Result<Organisation, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT name, slug FROM tenants WHERE id = $1"
    )
    .bind(tenant)
    .fetch_one(conn)
    .await)
}

/// A tenant whose plan includes single sign-on and that has set up its
/// provider.
pub struct TenantSso {
    pub tenant: TenantId,
    pub name: String,
    pub slug: String,
    pub connection: Connection,
}

/// Opens `tenant`'s scope and reads its single sign-on: `None` when it has
/// no provider or its plan no longer includes it.
///
/// # Errors
/// A database failure.
pub async fn open(
    db: &Db,
    plans: Catalog,
    tenant: TenantId,
    intent: Intent,
) -> Result<Option<(TenantScope, TenantSso)>, AppError> {
    let mut scope = for_tenant(db, tenant, intent).await?;
    let billing = crate::billing::state::current_state(&mut scope).await?;
    if !crate::billing::entitlement(plans, &billing, OffsetDateTime::now_utc())
        .allows(&SINGLE_SIGN_ON)
    {
        return Ok(None);
    }
    // Without its secret (imported), it can't sign anyone in yet.
    let Some(connection) = connection(&mut scope).await?.filter(Connection::has_secret) else {
        return Ok(None);
    };
    let organisation = organisation(&mut scope).await?;
    Ok(Some((
        scope,
        TenantSso {
            tenant,
            name: organisation.name,
            slug: organisation.slug,
            connection,
        },
    )))
}

/// The single sign-on of the tenant that verified `domain`, as [`open`]
/// reads it.
///
/// # Errors
/// As [`open`].
pub async fn for_domain(
    db: &Db,
    plans: Catalog,
    domain: &str,
    intent: Intent,
) -> Result<Option<(TenantScope, TenantSso)>, AppError> {
    match global::owner_of(db, domain).await? {
        Some(tenant) => open(db, plans, tenant, intent).await,
        None => Ok(None),
    }
}

impl TenantSso {
    /// Refuses any other way to sign in for `email`, at one of the
    /// tenant's domains, when the tenant requires its single sign-on: 403
    /// with a message saying where to go.
    ///
    /// # Errors
    /// That refusal.
    pub fn refuse_others(&self, email: &Email) -> Result<(), AppError> {
        if !self.connection.required {
            return Ok(());
        }
        Err(AppError::Forbidden(format!(
            "Everyone at {} signs in with the single sign-on of {}: choose Sign in with single sign-on on the sign-in page.",
            domain_of(email),
            self.name
        )))
    }
}

/// The single sign-on of the tenant that verified `email`'s domain, if it
/// has one set up (and its plan includes it).
///
/// # Errors
/// A database failure.
pub async fn for_address(state: &AppState, email: &Email) -> Result<Option<TenantSso>, AppError> {
    let found = for_domain(&state.db, state.plans, domain_of(email), Intent::Read).await?;
    Ok(found.map(|(_, sso)| sso))
}

/// Refuses any other way in (a password, a sign-in link, a passkey,
/// another provider, a signup, a password reset, an invitation's new
/// account) for an address at a domain whose tenant requires its single
/// sign-on ([`TenantSso::refuse_others`]).
///
/// # Errors
/// 403 with the message; a database failure.
pub async fn refuse_if_required(state: &AppState, email: &str) -> Result<(), AppError> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    match for_address(state, &email).await? {
        Some(sso) => sso.refuse_others(&email),
        None => Ok(()),
    }
}

/// [`refuse_if_required`] for the account `user`, found some other way (a
/// passkey, a sign-in link, a provider, a reset link, a second factor). A
/// super-admin is not bound by an organisation's requirement: the panel
/// (its way out of a lock-out) asks for their password and second factor.
///
/// # Errors
/// As [`refuse_if_required`].
pub async fn refuse_if_required_for(state: &AppState, user: UserId) -> Result<(), AppError> {
    match crate::accounts::global::find_user(&state.db, user).await? {
        Some(account) if !account.is_super_admin => refuse_if_required(state, &account.email).await,
        _ => Ok(()),
    }
}

/// A password sign-in (the page's, the API's) under the requirement of
/// the address's organisation: refused for everyone at its domains, right
/// password or wrong, but a super-admin with the right password (whose
/// second factor is still asked).
///
/// # Errors
/// As [`crate::accounts::attempt_sign_in`], and the requirement's 403.
pub async fn attempt_password_sign_in(
    state: &AppState,
    client: ClientAddress,
    input: &LoginInput,
) -> Result<Option<CurrentUser>, AppError> {
    let required = refuse_if_required(state, &input.email).await;
    let signed_in = crate::accounts::attempt_sign_in(state, client, input).await?;
    match required {
        Ok(()) => Ok(signed_in),
        Err(AppError::Forbidden(_))
            if signed_in.as_ref().is_some_and(|user| user.is_super_admin) =>
        {
            Ok(signed_in)
        }
        Err(refusal) => Err(refusal),
    }
}

/// The connection form (no `Debug`: it holds a secret).
#[derive(Clone, Default, Deserialize)]
pub struct ConnectionInput {
    /// The provider's issuer URL (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`).
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub client_id: String,
    /// Blank keeps the secret saved before.
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub default_role: String,
}

/// What [`ConnectionInput`] checks out as.
struct Checked {
    issuer: String,
    client_id: String,
    client_secret: String,
    default_role: Role,
}

impl ConnectionInput {
    /// `https_only`: in production the secret and the ID tokens travel to
    /// the issuer, so it must be https.
    fn check(&self, https_only: bool, has_secret: bool) -> Result<Checked, FieldErrors> {
        let mut errors = FieldErrors::default();
        let issuer = validation::text(&mut errors, "issuer", &self.issuer, true, 500);
        let usable = crate::config::parse_issuer(&issuer).is_ok()
            && (issuer.starts_with("https://") || !https_only);
        if !issuer.is_empty() && !usable {
            errors.add(
                "issuer",
                "Enter the provider's issuer URL, starting with https://.",
            );
        }
        let client_id = validation::text(&mut errors, "client_id", &self.client_id, true, 500);
        let client_secret = validation::text(
            &mut errors,
            "client_secret",
            &self.client_secret,
            !has_secret,
            1000,
        );
        let default_role = match Role::parse(&self.default_role) {
            Ok(role) if role != Role::Owner => role,
            _ => {
                errors.add("default_role", "Choose admin, manager or staff.");
                Role::Staff
            }
        };
        errors.or_ok(Checked {
            issuer,
            client_id,
            client_secret,
            default_role,
        })
    }
}

/// Saves the scope's tenant's provider. Changing the issuer, the client id
/// or the secret stops requiring it until a sign-in through the new
/// settings works: `true` when that stopped a requirement.
///
/// # Errors
/// The form's mistakes, as `Ok(Err(…))`; a database failure.
pub async fn save(
    scope: &mut TenantScope,
    keys: &Keys,
    https_only: bool,
    input: &ConnectionInput,
) -> Result<Result<bool, FieldErrors>, AppError> {
    let current = connection(scope).await?;
    let has_secret = current.as_ref().is_some_and(Connection::has_secret);
    let checked = match input.check(https_only, has_secret) {
        Ok(checked) => checked,
        Err(errors) => return Ok(Err(errors)),
    };
    let tenant = scope.tenant_id();
    let now = OffsetDateTime::now_utc();
    let Some(current) = current else {
        let id = RowId::new();
        let secret = CLIENT_SECRET.seal(keys, id, &checked.client_secret);
        on_tx!(scope.tx(), |conn| sqlx::query(
            "INSERT INTO sso_connections (tenant_id, id, issuer, client_id, client_secret, \
             default_role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        )
        .bind(tenant)
        .bind(id)
        .bind(&checked.issuer)
        .bind(&checked.client_id)
        .bind(secret)
        .bind(checked.default_role.as_str())
        .bind(now)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
        return Ok(Ok(false));
    };
    // The saved secret is opened only to keep it (a blank field), so one
    // sealed with a key since dropped can still be replaced.
    let (secret, secret_changed) = if checked.client_secret.is_empty() {
        match current.client_secret(Some(keys)) {
            Ok(saved) => (saved, false),
            Err(_) => {
                let message =
                    "The saved secret can't be read any more (its key is gone): enter it again.";
                return Ok(Err(FieldErrors::single("client_secret", message)));
            }
        }
    } else {
        (checked.client_secret, true)
    };
    let changed = checked.issuer != current.issuer
        || checked.client_id != current.client_id
        || secret_changed;
    let sealed = CLIENT_SECRET.seal(keys, current.id, &secret);
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE sso_connections SET issuer = $2, client_id = $3, client_secret = $4, \
         default_role = $5, updated_at = $6, \
         required = CASE WHEN $7 THEN false ELSE required END, \
         worked_at = CASE WHEN $7 THEN NULL ELSE worked_at END \
         WHERE tenant_id = $1"
    )
    .bind(tenant)
    .bind(&checked.issuer)
    .bind(&checked.client_id)
    .bind(sealed)
    .bind(checked.default_role.as_str())
    .bind(now)
    .bind(changed)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(Ok(changed && current.required))
}

/// Requires the provider, or stops requiring it. Requiring it waits for a
/// sign-in through it to have worked, so a mistyped setting can't lock
/// everyone out.
///
/// # Errors
/// 404 without a provider; 409 when no sign-in through it has worked yet.
pub async fn require(scope: &mut TenantScope, required: bool) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    let worked: Option<bool> = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT worked_at IS NOT NULL FROM sso_connections WHERE tenant_id = $1"
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await)?;
    match worked {
        None => return Err(AppError::NotFound),
        Some(false) if required => {
            return Err(AppError::Conflict(
                "Sign in through your provider once first (Test single sign-on), so requiring it can't lock everyone out.".to_owned(),
            ));
        }
        Some(_) => {}
    }
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE sso_connections SET required = $2, updated_at = $3 WHERE tenant_id = $1"
    )
    .bind(tenant)
    .bind(required)
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Records that a sign-in through the provider worked (the first since
/// its settings changed).
///
/// # Errors
/// A database failure.
pub async fn worked(scope: &mut TenantScope) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE sso_connections SET worked_at = $2 WHERE tenant_id = $1 AND worked_at IS NULL"
    )
    .bind(tenant)
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Removes the scope's tenant's provider. `false` when it had none.
///
/// # Errors
/// A database failure.
pub async fn remove(scope: &mut TenantScope) -> Result<bool, sqlx::Error> {
    let tenant = scope.tenant_id();
    let deleted = on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM sso_connections WHERE tenant_id = $1"
    )
    .bind(tenant)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(deleted == 1)
}

/// Someone the provider vouched for joins the scope's tenant just in time,
/// with the connection's default role: their account is made first (no
/// password) when they have none. Returns the user, and whether they
/// joined now (`false`: a member already). The caller marks a new
/// account's address verified once this commits.
///
/// # Errors
/// 403 when the plan has no room for another member; a database failure.
pub async fn join(
    scope: &mut TenantScope,
    plans: Catalog,
    sso: &TenantSso,
    user: Option<UserId>,
    email: &Email,
) -> Result<(UserId, bool), AppError> {
    let tenant = scope.tenant_id();
    if let Some(user) = user {
        let member: Option<i32> = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
            "SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2"
        )
        .bind(tenant)
        .bind(user)
        .fetch_optional(conn)
        .await)?;
        if member.is_some() {
            return Ok((user, false));
        }
    }
    crate::billing::ensure_room(scope, plans, &sso.slug, &crate::members::MEMBERS).await?;
    let user = match user {
        Some(user) => user,
        None => crate::accounts::insert_user(scope, email, None)
            .await?
            .ok_or_else(|| AppError::Conflict(crate::accounts::EMAIL_TAKEN.to_owned()))?,
    };
    crate::members::add(scope, user, sso.connection.default_role).await?;
    crate::billing::seats::changed(scope).await?;
    Ok((user, true))
}
