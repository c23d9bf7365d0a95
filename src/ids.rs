//! Typed identifiers. Every id is a UUIDv7 (time-ordered, so new rows land at
//! the end of indexes) wrapped in its own type, so a `UserId` can't be passed
//! where another kind of id is expected.
//!
//! Storage differs per backend: PostgreSQL has a native `uuid` type; in SQLite
//! ids are hyphenated text, readable in the `sqlite3` shell.

use std::fmt;
use std::str::FromStr;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

/// Declares an id newtype that encodes as `uuid` on PostgreSQL and as text on
/// SQLite.
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <Uuid as Type<Postgres>>::type_info()
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <Uuid as Encode<Postgres>>::encode_by_ref(&self.0, buf)
            }
        }

        impl Decode<'_, Postgres> for $name {
            fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
                <Uuid as Decode<Postgres>>::decode(value).map(Self)
            }
        }

        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <Hyphenated as Type<Sqlite>>::type_info()
            }
        }

        impl Encode<'_, Sqlite> for $name {
            fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
                <Hyphenated as Encode<Sqlite>>::encode_by_ref(&self.0.hyphenated(), buf)
            }
        }

        impl Decode<'_, Sqlite> for $name {
            fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
                <Hyphenated as Decode<Sqlite>>::decode(value).map(|id| Self(id.into_uuid()))
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
