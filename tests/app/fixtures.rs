//! Test data, written straight to the database (as the test's superuser or
//! owner connection, below the app's scopes), and a test-only sign-in route
//! that skips the password check.

use app::db::Db;
use app::http::routes::{Access, Routes, post};
use app::ids::{
    ApiTokenId, InvitationId, InvitationLocationId, LocationGrantId, LocationId, MembershipId,
    TenantId, UserId,
};
use app::on_backend;
use app::tenancy::{Permission, Role};
use reqwest::Method;
use serde_json::Value;
use std::fmt::Debug;
use time::OffsetDateTime;
use tower_sessions::Session;

use crate::support::TestApp;

pub const SIGN_IN_PATH: &str = "/test/sign-in";

pub fn sign_in_route() -> Routes {
    Routes::new().add(SIGN_IN_PATH, Access::Public, post(sign_in))
}

/// Signs `user` in as the app's own sign-in does, without the password
/// check (argon2 costs each test real time); answers the CSRF token.
async fn sign_in(session: Session, axum::Json(user): axum::Json<UserId>) -> String {
    app::accounts::start_session(&session, user)
        .await
        .expect("start the session");
    app::http::csrf::token(&session)
        .await
        .expect("the session's CSRF token")
}

pub async fn user(db: &Db, email: &str) -> UserId {
    let id = UserId::new();
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3)"
    )
    .bind(id)
    .bind(email)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert user");
    id
}

/// A tenant on Pro (comped), so the Free plan's limits stay out of tests
/// about other things (tests/app/billing.rs turns the comp off).
pub async fn tenant(db: &Db, name: &str, slug: &str) -> TenantId {
    let id = TenantId::new();
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO tenants (id, name, slug, time_zone, created_at, comped) VALUES ($1, $2, $3, 'Europe/Madrid', $4, true)"
    )
    .bind(id)
    .bind(name)
    .bind(slug)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert tenant");
    id
}

pub async fn membership(db: &Db, tenant: TenantId, user: UserId, role: Role) -> MembershipId {
    let id = MembershipId::new();
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO memberships (tenant_id, id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(tenant)
    .bind(id)
    .bind(user)
    .bind(role.as_str())
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert membership");
    id
}

pub async fn location(db: &Db, tenant: TenantId, name: &str) -> LocationId {
    let id = LocationId::new();
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO locations (tenant_id, id, name, address, time_zone, created_at) \
         VALUES ($1, $2, $3, '1 Main St', 'Europe/Madrid', $4)"
    )
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert location");
    id
}

pub async fn grant(db: &Db, tenant: TenantId, membership: MembershipId, location: LocationId) {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO location_grants (tenant_id, id, membership_id, location_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(tenant)
    .bind(LocationGrantId::new())
    .bind(membership)
    .bind(location)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert location grant");
}

/// One tenant with a member of every role and two locations; the manager
/// and the staff member are granted the first.
pub struct TenantFixture {
    pub id: TenantId,
    pub slug: String,
    pub owner: UserId,
    pub admin: UserId,
    pub manager: UserId,
    pub manager_membership: MembershipId,
    pub staff: UserId,
    pub staff_membership: MembershipId,
    pub locations: [LocationId; 2],
    /// A pending invitation (staff, at the first location); its token is
    /// its id.
    pub invitation: InvitationId,
    /// The admin's API token (admin role); its secret is `api_token_secret`.
    pub api_token: ApiTokenId,
    pub api_token_secret: String,
}

/// An invoice of the tenant's, as an `invoice.paid` event stored it.
async fn invoice(db: &Db, tenant: TenantId) {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO invoices (tenant_id, id, number, status, total, amount_due, currency, \
         created, hosted_invoice_url, invoice_pdf) \
         VALUES ($1, $2, 'FIXTURE-0001', 'paid', 700, 0, 'eur', 0, NULL, NULL)"
    )
    .bind(tenant)
    .bind(format!("in_fixture_{tenant}"))
    .execute(pool)
    .await
    .map(drop))
    .expect("insert an invoice");
}

/// A single sign-on provider, set up but never used (its secret as stored
/// before the column was sealed: `rotate-keys` seals such a value).
async fn sso_connection(db: &Db, tenant: TenantId) {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO sso_connections (tenant_id, id, issuer, client_id, client_secret, \
         default_role, created_at, updated_at) \
         VALUES ($1, $2, 'https://sso.fixture.test', 'fixture', 'fixture-secret', 'staff', $3, $3)"
    )
    .bind(tenant)
    .bind(app::ids::RowId::new())
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert a single sign-on provider");
}

/// A billing email the tenant's owners were sent (a receipt, for an event
/// long processed).
async fn billing_notice(db: &Db, tenant: TenantId) {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO billing_notices (tenant_id, id, event_id, kind, sent_at) \
         VALUES ($1, $2, 'evt_fixture', 'receipt', 0)"
    )
    .bind(tenant)
    .bind(app::ids::BillingNoticeId::new())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert a billing notice");
}

impl TenantFixture {
    pub async fn create(db: &Db, slug: &str) -> Self {
        let id = tenant(db, &format!("{slug} Ltd"), slug).await;
        let owner = user(db, &format!("owner@{slug}.test")).await;
        let admin = user(db, &format!("admin@{slug}.test")).await;
        let manager = user(db, &format!("manager@{slug}.test")).await;
        let staff = user(db, &format!("staff@{slug}.test")).await;
        membership(db, id, owner, Role::Owner).await;
        let admin_membership = membership(db, id, admin, Role::Admin).await;
        let manager_membership = membership(db, id, manager, Role::Manager).await;
        let staff_membership = membership(db, id, staff, Role::Staff).await;
        let locations = [
            location(db, id, &format!("{slug} Centre")).await,
            location(db, id, &format!("{slug} Harbour")).await,
        ];
        grant(db, id, manager_membership, locations[0]).await;
        grant(db, id, staff_membership, locations[0]).await;
        let invitation = invitation(db, id, &format!("invited@{slug}.test"), locations[0]).await;
        let api_token_secret = format!("api_{}_fixture", id.as_uuid().simple());
        let api_token = api_token(db, id, admin_membership, &api_token_secret).await;
        billing_notice(db, id).await;
        invoice(db, id).await;
        sso_connection(db, id).await;
        Self {
            id,
            slug: slug.to_owned(),
            owner,
            admin,
            manager,
            manager_membership,
            staff,
            staff_membership,
            locations,
            invitation,
            api_token,
            api_token_secret,
        }
    }

    /// The fixture's member with `role`.
    pub fn user_with(&self, role: Role) -> UserId {
        match role {
            Role::Owner => self.owner,
            Role::Admin => self.admin,
            Role::Manager => self.manager,
            Role::Staff => self.staff,
        }
    }
}

/// A request that exercises one action: the role matrix sends it as each
/// role. A body of `Value::Null` sends none.
pub struct Attempt(pub Method, pub String, pub Value);

/// The role × action matrix over HTTP, for one kind of action (the core's
/// `Action`, a capability's or a module's own): each action, tried by each
/// role in a tenant of its own through a real route (`attempt` builds the
/// request; the first location is granted to the manager and the staff
/// member, so a refusal is the role's, not visibility's), succeeds exactly
/// where `allowed` says and is refused with 403 `forbidden` elsewhere.
pub async fn assert_role_matrix<A: Permission + Debug>(
    app: &TestApp,
    actions: &[A],
    attempt: impl AsyncFn(A, &TenantFixture) -> Attempt,
) {
    let kind = std::any::type_name::<A>().rsplit("::").next().unwrap_or("action");
    for (a, &action) in actions.iter().enumerate() {
        for (r, role) in Role::ALL.into_iter().enumerate() {
            let slug = format!("{}-cell-{a}-{r}", kind.to_lowercase());
            let f = TenantFixture::create(&app.db, &slug).await;
            let Attempt(method, path, body) = attempt(action, &f).await;
            let client = app.client_for(f.user_with(role)).await;
            app.give_password(&client).await;
            let mut request = client.request(method.clone(), app.url(&path));
            if !body.is_null() {
                request = request.json(&body);
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            if action.allowed(role) {
                assert!(
                    (200..300).contains(&status),
                    "{action:?} as {role:?}: {method} {path} gave {status}"
                );
            } else {
                assert_eq!(status, 403, "{action:?} as {role:?}: {method} {path}");
                let error: Value = response.json().await.expect("an error body");
                assert_eq!(error["error"]["code"], "forbidden");
            }
        }
    }
}

/// An admin-role API token of `membership` with this secret.
pub async fn api_token(
    db: &Db,
    tenant: TenantId,
    membership: MembershipId,
    secret: &str,
) -> ApiTokenId {
    let id = ApiTokenId::new();
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO api_tokens (tenant_id, id, name, role, token_digest, membership_id, created_at) \
         VALUES ($1, $2, 'Fixture', 'admin', $3, $4, $5)"
    )
    .bind(tenant)
    .bind(id)
    .bind(app::tokens::digest(secret))
    .bind(membership)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("insert API token");
    id
}

/// A pending staff invitation for `email` at `location`, valid for a day.
pub async fn invitation(
    db: &Db,
    tenant: TenantId,
    email: &str,
    location: LocationId,
) -> InvitationId {
    let id = InvitationId::new();
    let expires_at = OffsetDateTime::now_utc().unix_timestamp() + 86_400;
    on_backend!(db, |pool| async {
        sqlx::query(
            "INSERT INTO invitations (tenant_id, id, email, role, token_digest, expires_at, created_at) \
             VALUES ($1, $2, $3, 'staff', $4, $5, $6)",
        )
        .bind(tenant)
        .bind(id)
        .bind(email)
        .bind(app::tokens::digest(&id.to_string()))
        .bind(expires_at)
        .bind(OffsetDateTime::now_utc())
        .execute(pool)
        .await?;
        sqlx::query(
            "INSERT INTO invitation_locations (tenant_id, id, invitation_id, location_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant)
        .bind(InvitationLocationId::new())
        .bind(id)
        .bind(location)
        .execute(pool)
        .await
        .map(drop)
    }
    .await)
    .expect("insert invitation");
    id
}

/// The tables that hold tenant-owned rows: every table with a tenant_id
/// column, read from the live schema so a new table is covered unasked.
pub async fn tenant_owned_tables(db: &Db) -> Vec<String> {
    let tables: Vec<String> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar(
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND c.name = 'tenant_id' ORDER BY m.name",
            )
            .fetch_all(pool)
            .await
        }
        Db::Postgres(postgres) => {
            sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name",
            )
            .fetch_all(&postgres.pool)
            .await
        }
    }
    .expect("list tenant-owned tables");
    assert!(!tables.is_empty(), "the schema has tenant-owned tables");
    tables
}

/// Every table holding a tenant's rows, with the column that names the
/// tenant: each tenant-owned table (`tenant_id`), and `tenants` (`id`).
pub async fn tables_of_a_tenant(db: &Db) -> Vec<(String, &'static str)> {
    let mut tables: Vec<(String, &'static str)> = tenant_owned_tables(db)
        .await
        .into_iter()
        .map(|table| (table, "tenant_id"))
        .collect();
    tables.push(("tenants".to_owned(), "id"));
    tables
}

/// Every row a tenant owns (and its tenants row), as text, for comparing
/// before and after.
pub async fn snapshot(db: &Db, tenant: TenantId) -> Vec<String> {
    let mut rows = Vec::new();
    for (table, key) in tables_of_a_tenant(db).await {
        let table_rows: Vec<String> = match db {
            Db::Sqlite(pool) => {
                let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{table}')"
                )))
                .fetch_all(pool)
                .await
                .expect("columns");
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT json_array({}) FROM {table} WHERE {key} = $1 ORDER BY id",
                    columns.join(", ")
                )))
                .bind(tenant)
                .fetch_all(pool)
                .await
            }
            Db::Postgres(postgres) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT row_to_json(t)::text FROM {table} t WHERE {key} = $1 ORDER BY id"
                )))
                .bind(tenant)
                .fetch_all(&postgres.pool)
                .await
            }
        }
        .expect("snapshot rows");
        rows.extend(table_rows.into_iter().map(|row| format!("{table}: {row}")));
    }
    rows
}
