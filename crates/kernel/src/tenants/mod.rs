//! Tenants as their members see them: the switcher (a user may belong to
//! several), creating one, and its settings.

pub mod portability;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::db::Db;
use crate::error::AppError;
use crate::ids::{LocationId, TenantId, UserId};
use crate::tenancy::scope::UserScope;
use crate::tenancy::{Intent, Role, Tenant, TenantScope, for_tenant};
use crate::validation::{self, FieldErrors};
use crate::{on_tx, row};

/// One of the signed-in user's tenants, for the switcher.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenantChoice {
    #[serde(skip)]
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub role: Role,
}

row! {
    /// A tenant of the user's, with their role in it as stored.
    struct ChoiceRow {
        id: TenantId,
        name: String,
        slug: String,
        role: String,
    }
}

/// The user's tenants, by name.
pub async fn choices(scope: &mut UserScope) -> Result<Vec<TenantChoice>, AppError> {
    let user = scope.user_id();
    let rows: Vec<ChoiceRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "SELECT t.id, t.name, t.slug, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
         WHERE m.user_id = $1 ORDER BY lower(t.name), t.slug"
    )
    .bind(user)
    .fetch_all(conn)
    .await
    })?;
    rows.into_iter()
        .map(|row| {
            Ok(TenantChoice {
                id: row.id,
                name: row.name,
                slug: row.slug,
                role: Role::parse(&row.role)?,
            })
        })
        .collect()
}

/// A tenant's editable settings, as a form or JSON body sends them.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TenantInput {
    pub name: String,
    /// An IANA time zone name, e.g. Europe/Madrid.
    pub time_zone: String,
}

/// A tenant's settings, trimmed and checked: what the repository writes.
#[derive(Clone, Debug)]
pub struct ValidTenant {
    pub name: String,
    pub time_zone: String,
}

impl TenantInput {
    /// # Errors
    /// Each field that is wrong, with a message.
    pub fn validate(&self) -> Result<ValidTenant, FieldErrors> {
        let mut errors = FieldErrors::default();
        let valid = ValidTenant {
            name: validation::text(&mut errors, "name", &self.name, true, 100),
            time_zone: validation::time_zone(&mut errors, "time_zone", &self.time_zone),
        };
        errors.or_ok(valid)
    }
}

/// A URL slug from a name: lowercase ASCII letters, digits and dashes.
fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(34);
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "org".to_owned()
    } else {
        slug.to_owned()
    }
}

/// Creates a tenant with `owner` as its owner and a first location named
/// after it, in one transaction.
pub async fn create(db: &Db, owner: UserId, input: &ValidTenant) -> Result<Tenant, AppError> {
    let mut scope = for_tenant(db, TenantId::new(), Intent::Write).await?;
    let tenant = insert(&mut scope, owner, input).await?;
    scope.commit().await?;
    Ok(tenant)
}

/// Writes the scope's (new) tenant, its owner's membership and its first
/// location. The slug comes from the name; a taken one gets a short random
/// suffix.
pub(crate) async fn insert(
    scope: &mut TenantScope,
    owner: UserId,
    input: &ValidTenant,
) -> Result<Tenant, AppError> {
    let id = scope.tenant_id();
    let base = slug_from(&input.name);
    let now = OffsetDateTime::now_utc();
    let mut slug = base.clone();
    loop {
        let inserted = on_tx!(scope.tx(), |conn| {
            sqlx::query(
            "INSERT INTO tenants (id, name, slug, time_zone, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING"
        )
        .bind(id)
        .bind(&input.name)
        .bind(&slug)
        .bind(&input.time_zone)
        .bind(now)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
        })?;
        if inserted == 1 {
            break;
        }
        slug = format!("{base}-{}", &uuid::Uuid::new_v4().simple().to_string()[..4]);
    }
    crate::members::add(scope, owner, Role::Owner).await?;
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO locations (tenant_id, id, name, time_zone, created_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(id)
    .bind(LocationId::new())
    .bind(&input.name)
    .bind(&input.time_zone)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
    })?;
    Ok(Tenant {
        id,
        name: input.name.clone(),
        slug,
        time_zone: input.time_zone.clone(),
    })
}

/// Changes the scope's tenant's name and time zone (the slug stays: it is
/// in every link).
pub async fn update_settings(
    scope: &mut TenantScope,
    input: &ValidTenant,
) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE tenants SET name = $2, time_zone = $3 WHERE id = $1"
    )
    .bind(tenant)
    .bind(&input.name)
    .bind(&input.time_zone)
    .execute(conn)
    .await
    .map(drop))
}

/// An owner's confirmation that the organisation is to be deleted: its
/// slug typed, and (in person) their current password. The inner error
/// names the field.
///
/// # Errors
/// 403 for an API token; as `accounts::reauthenticate`.
pub async fn confirm_deletion(
    state: &crate::http::AppState,
    t: &mut crate::access::InTenant,
    typed: &str,
    password: &str,
) -> Result<Result<(), FieldErrors>, AppError> {
    t.require_person()?;
    if typed.trim() != t.tenant.slug {
        return Ok(Err(FieldErrors::single(
            "confirm",
            format!(
                "Type {} to confirm: everything it holds is deleted.",
                t.tenant.slug
            ),
        )));
    }
    t.reauthenticate(state, password).await
}

/// Deletes a tenant for good: its Stripe subscription is canceled first
/// (if that fails, nothing is deleted, and the error says why), then every
/// row it owns.
///
/// # Errors
/// A live subscription and no Stripe client, a Stripe failure, or a
/// database failure.
pub async fn delete(
    state: &crate::http::AppState,
    tenant: TenantId,
    billing: &crate::billing::BillingState,
) -> Result<(), AppError> {
    let live = billing.stripe_subscription_id.as_deref().filter(|_| {
        billing
            .subscription_status
            .as_deref()
            .is_none_or(crate::billing::stripe::is_live_status)
    });
    if let Some(subscription) = live {
        crate::billing::stripe_of(state)?
            .cancel_now(subscription)
            .await?;
    }
    let scope = for_tenant(&state.db, tenant, Intent::Write).await?;
    delete_row(scope).await?;
    Ok(())
}

/// Deletes the scope's tenant row and commits; every row the tenant owns
/// goes with it (each tenant-owned table's `tenant_id` cascades, and the time
/// log's guard lets a whole tenant go). Inside the tenant's own scope: an
/// app connected as an ordinary owner is bound by the policies, which let a
/// scope delete its own tenant row and nothing else. Whether there was one.
pub async fn delete_row(mut scope: TenantScope) -> Result<bool, sqlx::Error> {
    let tenant = scope.tenant_id();
    let deleted = on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM tenants WHERE id = $1"
    )
    .bind(tenant)
    .execute(conn)
    .await
    .map(|done| done.rows_affected() > 0))?;
    scope.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::slug_from;

    #[test]
    fn slugs_are_lowercase_ascii_with_single_dashes() {
        assert_eq!(slug_from("Café Olé & Sons, Ltd."), "caf-ol-sons-ltd");
        assert_eq!(slug_from("  ACME  "), "acme");
        assert_eq!(slug_from("日本"), "org");
        assert_eq!(slug_from(&"a".repeat(80)).len(), 34);
    }
}
