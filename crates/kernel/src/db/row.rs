//! Rows read by column name. [`row!`](crate::row) declares a struct whose
//! fields are a query's columns, with `sqlx::FromRow` on both backends (the
//! field's name is the column's), and, if asked, a macro that writes the
//! list to select, so a table's columns are written once and never matched
//! by position.

/// Declares a row struct, read by column name, and optionally (`columns:
/// name;`) a macro `name!()` that expands to its columns as a literal, for
/// `concat!` into a query in the same module:
///
/// ```ignore
/// row! {
///     columns: location_columns;
///     /// A location as its queries select it.
///     pub struct Location {
///         pub id: LocationId,
///         pub name: String,
///     }
/// }
/// // concat!("SELECT ", location_columns!(), " FROM locations") ==
/// //     "SELECT id, name FROM locations"
/// ```
#[macro_export]
macro_rules! row {
    (
        columns: $columns:ident;
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(#[$first_meta:meta])* $first_vis:vis $first:ident: $first_ty:ty
            $(, $(#[$field_meta:meta])* $field_vis:vis $field:ident: $field_ty:ty)* $(,)?
        }
    ) => {
        macro_rules! $columns {
            () => {
                concat!(stringify!($first) $(, ", ", stringify!($field))*)
            };
        }

        $crate::row! {
            $(#[$meta])*
            $vis struct $name {
                $(#[$first_meta])* $first_vis $first: $first_ty,
                $($(#[$field_meta])* $field_vis $field: $field_ty,)*
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(#[$first_meta:meta])* $first_vis:vis $first:ident: $first_ty:ty
            $(, $(#[$field_meta:meta])* $field_vis:vis $field:ident: $field_ty:ty)* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $(#[$first_meta])* $first_vis $first: $first_ty,
            $($(#[$field_meta])* $field_vis $field: $field_ty,)*
        }

        impl<'r, R> sqlx::FromRow<'r, R> for $name
        where
            R: sqlx::Row,
            &'r str: sqlx::ColumnIndex<R>,
            $first_ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            $($field_ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $first: row.try_get(stringify!($first))?,
                    $($field: row.try_get(stringify!($field))?,)*
                })
            }
        }
    };
}
