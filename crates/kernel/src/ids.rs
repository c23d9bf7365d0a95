//! Typed identifiers. Every id is a UUIDv7 (time-ordered, so new rows land at
//! the end of indexes) wrapped in its own type, so a `UserId` can't be passed
//! where another kind of id is expected.
//!
//! Storage differs per backend: PostgreSQL has a native `uuid` type; in SQLite
//! ids are hyphenated text, readable in the `sqlite3` shell.

/// Declares an id newtype that encodes as `uuid` on PostgreSQL and as text on
/// SQLite. Modules declare their own ids with it (`kernel::typed_id!`).
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<::uuid::Uuid> for $name {
            fn from(id: ::uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(text).map(Self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        /// In the OpenAPI document: a string in UUID format.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl ::sqlx::Type<::sqlx::Postgres> for $name {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <::uuid::Uuid as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut ::sqlx::postgres::PgArgumentBuffer) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <::uuid::Uuid as ::sqlx::Encode<::sqlx::Postgres>>::encode_by_ref(&self.0, buf)
            }
        }

        impl ::sqlx::Decode<'_, ::sqlx::Postgres> for $name {
            fn decode(value: ::sqlx::postgres::PgValueRef<'_>) -> Result<Self, ::sqlx::error::BoxDynError> {
                <::uuid::Uuid as ::sqlx::Decode<::sqlx::Postgres>>::decode(value).map(Self)
            }
        }

        impl ::sqlx::Type<::sqlx::Sqlite> for $name {
            fn type_info() -> ::sqlx::sqlite::SqliteTypeInfo {
                <::uuid::fmt::Hyphenated as ::sqlx::Type<::sqlx::Sqlite>>::type_info()
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Sqlite> for $name {
            fn encode_by_ref(&self, buf: &mut ::sqlx::sqlite::SqliteArgumentsBuffer) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <::uuid::fmt::Hyphenated as ::sqlx::Encode<::sqlx::Sqlite>>::encode_by_ref(&self.0.hyphenated(), buf)
            }
        }

        impl ::sqlx::Decode<'_, ::sqlx::Sqlite> for $name {
            fn decode(value: ::sqlx::sqlite::SqliteValueRef<'_>) -> Result<Self, ::sqlx::error::BoxDynError> {
                <::uuid::fmt::Hyphenated as ::sqlx::Decode<::sqlx::Sqlite>>::decode(value).map(|id| Self(id.into_uuid()))
            }
        }
    };
}

typed_id!(
    /// A person's account (global: one user may belong to several tenants).
    UserId
);

typed_id!(
    /// A customer organisation: the unit of isolation.
    TenantId
);

typed_id!(
    /// One of a user's passkeys.
    PasskeyId
);

typed_id!(
    /// A user's membership in one tenant (which carries their role).
    MembershipId
);

typed_id!(
    /// A tenant's site (a café, a store).
    LocationId
);

typed_id!(
    /// A member's access to one location.
    LocationGrantId
);

typed_id!(
    /// One entry of the super-admin audit log.
    AuditEntryId
);

typed_id!(
    /// An invitation into a tenant.
    InvitationId
);

typed_id!(
    /// One location an invitation will grant.
    InvitationLocationId
);

typed_id!(
    /// A tenant's API token.
    ApiTokenId
);

typed_id!(
    /// A job in the durable queue.
    JobId
);

typed_id!(
    /// Any table's row id, for code that walks tables it doesn't know by
    /// name (key rotation, tenant export).
    RowId
);

typed_id!(
    /// A billing email sent for one of Stripe's events (`billing_notices`).
    BillingNoticeId
);
