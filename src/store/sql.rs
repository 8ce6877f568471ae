//! SQL assembled at run time (filters, paging, multi-row inserts) with `$N`
//! placeholders, which both engines read.
//!
//! sqlx's `QueryBuilder<Any>` writes `?` for every bound value, which
//! PostgreSQL refuses; [`Sql`] is the same few calls (`push`, `push_bind`,
//! `separated`, `push_values`, `build`, `build_query_as`) numbering its
//! placeholders in bind order. Text pushed with `push` is never a value: every
//! value from a user goes through `push_bind`.
//!
//! [`Flag`] is the other difference of the two engines' results that the
//! rest of the store meets: a truth value (`EXISTS`, a comparison, `TRUE`) is
//! a boolean on PostgreSQL and an integer on SQLite.

use std::fmt::{Display, Write};

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, Arguments, Encode, FromRow, Type};

/// A statement being built, and the values bound to it so far.
#[derive(Default)]
pub struct Sql<'a> {
    text: String,
    args: AnyArguments<'a>,
    bound: usize,
}

impl<'a> Sql<'a> {
    /// A statement starting with `head`.
    pub fn new(head: impl Into<String>) -> Self {
        Self {
            text: head.into(),
            ..Self::default()
        }
    }

    /// Appends SQL text (never a user's value: bind those).
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{sql}");
        self
    }

    /// Binds `value` and appends its placeholder, `$N`.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        self.bind_only(value);
        let _ = write!(self.text, "${}", self.bound);
        self
    }

    /// Binds `value` as the next `$N` without writing it: for a placeholder
    /// already in the text given to [`Self::new`] (`$1` in a shared clause).
    pub fn bind_only<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        // Adding an encodable value to `AnyArguments` only fails for a value
        // whose encoder fails; sqlx reports that error when the query runs.
        let _ = self.args.add(value);
        self.bound += 1;
        self
    }

    /// Appends parts separated by `separator` (`, ` in a list, ` AND ` in a filter).
    pub fn separated(&mut self, separator: &'static str) -> Separated<'_, 'a> {
        Separated {
            sql: self,
            separator,
            first: true,
        }
    }

    /// Appends `VALUES (…), (…)`: `row` pushes one tuple's values.
    pub fn push_values<I, F>(&mut self, items: I, mut row: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_, 'a>, I::Item),
    {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push("(");
            row(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    /// The statement's text so far.
    pub fn sql(&self) -> &str {
        &self.text
    }

    /// The statement, to execute.
    pub fn build(&mut self) -> Query<'_, Any, AnyArguments<'_>> {
        sqlx::query_with(&self.text, std::mem::take(&mut self.args))
    }

    /// The statement, reading each row as `T`.
    pub fn build_query_as<T>(&mut self) -> QueryAs<'_, Any, T, AnyArguments<'_>>
    where
        T: for<'r> FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(&self.text, std::mem::take(&mut self.args))
    }
}

/// Parts of a [`Sql`] joined by a separator.
pub struct Separated<'s, 'a> {
    sql: &'s mut Sql<'a>,
    separator: &'static str,
    first: bool,
}

impl<'a> Separated<'_, 'a> {
    fn next(&mut self) {
        if !self.first {
            self.sql.push(self.separator);
        }
        self.first = false;
    }

    /// Appends SQL text as the next part.
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.next();
        self.sql.push(sql);
        self
    }

    /// Appends SQL text to the current part, with no separator.
    pub fn push_unseparated(&mut self, sql: impl Display) -> &mut Self {
        self.sql.push(sql);
        self
    }

    /// Binds `value` as the next part.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        self.next();
        self.sql.push_bind(value);
        self
    }

    /// Binds `value` in the current part, with no separator.
    pub fn push_bind_unseparated<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        self.sql.push_bind(value);
        self
    }
}

/// A truth value read from a result: `bool` on PostgreSQL, `0`/`1` on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl Type<Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        ty.kind() == sqlx::any::AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> sqlx::Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        use sqlx::ValueRef;
        if value.type_info().kind() == sqlx::any::AnyTypeInfoKind::Bool {
            Ok(Self(<bool as sqlx::Decode<Any>>::decode(value)?))
        } else {
            Ok(Self(<i64 as sqlx::Decode<Any>>::decode(value)? != 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn placeholders_are_numbered_in_bind_order_across_parts_and_rows() {
        let mut q = Sql::new("INSERT INTO t (a, b) ");
        q.push_values([(1_i64, "x"), (2, "y")], |mut row, (a, b)| {
            row.push_bind(a).push_bind(b);
        });
        q.push(" ON CONFLICT DO NOTHING");
        assert_eq!(
            q.sql(),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        let mut w = Sql::new("SELECT 1 FROM t WHERE ");
        let mut and = w.separated(" AND ");
        and.push("a = ").push_bind_unseparated(5_i64);
        and.push("b IN (").push_bind_unseparated("p").push_unseparated(")");
        assert_eq!(w.sql(), "SELECT 1 FROM t WHERE a = $1 AND b IN ($2)");
    }
}
