//! Statements written once for both backends.
//!
//! A [`Stmt`] is SQL text with numbered placeholders (`$1`, `$2`, …) and its
//! arguments in order. PostgreSQL numbers its parameters that way, and sqlx's
//! SQLite driver binds `$N` by its number too (a placeholder may be used
//! twice; see the test below), so one text and one bind sequence serve both.
//! A [`Conn`] runs statements on one backend's connection; rows come back
//! through [`Columns`], which hides which database they came from.

use std::borrow::Cow;

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use super::{StoreError, StoreResult};

/// One argument of a statement: the column types the schema uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// `TEXT NOT NULL`.
    Text(String),
    /// `TEXT` (nullable).
    OptText(Option<String>),
    /// `BIGINT NOT NULL`.
    Int(i64),
    /// `BIGINT` (nullable).
    OptInt(Option<i64>),
    /// `BYTEA` / `BLOB`.
    Bytes(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Self::OptText(v.clone())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Self::OptInt(v)
    }
}

impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}

/// A row lock a `SELECT` takes until its transaction ends.
///
/// PostgreSQL needs it to decide a write on a row it read (`FOR UPDATE`);
/// SQLite runs every such read inside the single writer's `BEGIN IMMEDIATE`
/// transaction, which already holds the whole database's write lock, and has
/// no row locks to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    /// `FOR UPDATE`: the row will be changed.
    Update,
    /// `FOR NO KEY UPDATE`: serializes writers of the row without blocking
    /// inserts elsewhere that reference it (foreign keys take key-share locks).
    NoKeyUpdate,
}

impl RowLock {
    /// The PostgreSQL clause.
    pub(crate) fn postgres_clause(self) -> &'static str {
        match self {
            Self::Update => " FOR UPDATE",
            Self::NoKeyUpdate => " FOR NO KEY UPDATE",
        }
    }
}

/// SQL text with `$N` placeholders and its arguments, for either backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stmt {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
    lock: Option<RowLock>,
    /// `(what, referenced)` for [`Stmt::constraint_errors`].
    names: Option<(&'static str, &'static str)>,
}

impl Stmt {
    /// A statement without arguments yet.
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
            lock: None,
            names: None,
        }
    }

    /// Binds the next placeholder (`$1` first).
    pub(crate) fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Locks the selected rows until the transaction ends (PostgreSQL; see
    /// [`RowLock`] for why SQLite needs none).
    pub(crate) fn locking(mut self, lock: RowLock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Reports a duplicate key as [`StoreError::Conflict`]`(what)` and a
    /// dangling reference as [`StoreError::MissingReference`]`(referenced)`.
    pub(crate) fn constraint_errors(
        mut self,
        what: &'static str,
        referenced: &'static str,
    ) -> Self {
        self.names = Some((what, referenced));
        self
    }

    /// A text naming what this statement selects: equal for two statements
    /// exactly when they have the same SQL and arguments, so ordering locking
    /// statements by it gives every writer the same lock order.
    pub(crate) fn lock_key(&self) -> String {
        format!("{}\u{0}{:?}", self.sql, self.args)
    }

    /// The text to send, with the lock clause the dialect needs, the
    /// arguments, and how to report a failure.
    pub(crate) fn into_parts(
        self,
        lock_clause: fn(RowLock) -> &'static str,
    ) -> (String, Vec<Arg>, ErrorMap) {
        let mut sql = self.sql.into_owned();
        if let Some(lock) = self.lock {
            sql.push_str(lock_clause(lock));
        }
        (sql, self.args, ErrorMap(self.names))
    }
}

/// How a failed statement is reported (see [`Stmt::constraint_errors`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorMap(Option<(&'static str, &'static str)>);

impl ErrorMap {
    /// The store error for `e`.
    pub(crate) fn error(self, e: sqlx::Error) -> StoreError {
        let Some((what, referenced)) = self.0 else {
            return StoreError::Database(e);
        };
        match e.as_database_error().map(|d| d.kind()) {
            Some(sqlx::error::ErrorKind::UniqueViolation) => StoreError::Conflict(what),
            Some(sqlx::error::ErrorKind::ForeignKeyViolation) => {
                StoreError::MissingReference(referenced)
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Turns a row into a record.
pub(crate) type Decoder<T> = fn(&dyn Columns) -> StoreResult<T>;

/// A connection statements run on, inside whatever transaction the backend
/// opened for the call.
#[async_trait]
pub(crate) trait Conn: Send {
    /// Runs `stmt`; returns how many rows it changed.
    async fn execute(&mut self, stmt: Stmt) -> StoreResult<u64>;
    /// Runs `stmt`; decodes its first row, if any.
    async fn fetch_optional<T: Send + 'static>(
        &mut self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Option<T>>;
    /// Runs `stmt`; decodes every row.
    async fn fetch_all<T: Send + 'static>(
        &mut self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Vec<T>>;
}

/// Implements [`Conn`] for one sqlx connection type. A macro rather than a
/// generic impl: the bounds that make a generic sqlx executor's future
/// `Send` are longer than this body, which it writes once for both.
macro_rules! impl_conn {
    ($conn:ty, $db:ty, $lock_clause:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::sql::Conn for $conn {
            async fn execute(
                &mut self,
                stmt: $crate::store::sql::Stmt,
            ) -> $crate::store::StoreResult<u64> {
                let (sql, args, errors) = stmt.into_parts($lock_clause);
                let query = args
                    .into_iter()
                    .fold(sqlx::query::<$db>(&sql), $crate::store::sql::bind::<$db>);
                match query.execute(&mut *self).await {
                    Ok(done) => Ok(done.rows_affected()),
                    Err(e) => Err(errors.error(e)),
                }
            }

            async fn fetch_optional<T: Send + 'static>(
                &mut self,
                stmt: $crate::store::sql::Stmt,
                decode: $crate::store::sql::Decoder<T>,
            ) -> $crate::store::StoreResult<Option<T>> {
                let (sql, args, errors) = stmt.into_parts($lock_clause);
                let query = args
                    .into_iter()
                    .fold(sqlx::query::<$db>(&sql), $crate::store::sql::bind::<$db>);
                match query.fetch_optional(&mut *self).await {
                    Ok(row) => row.map(|r| decode(&r)).transpose(),
                    Err(e) => Err(errors.error(e)),
                }
            }

            async fn fetch_all<T: Send + 'static>(
                &mut self,
                stmt: $crate::store::sql::Stmt,
                decode: $crate::store::sql::Decoder<T>,
            ) -> $crate::store::StoreResult<Vec<T>> {
                let (sql, args, errors) = stmt.into_parts($lock_clause);
                let query = args
                    .into_iter()
                    .fold(sqlx::query::<$db>(&sql), $crate::store::sql::bind::<$db>);
                match query.fetch_all(&mut *self).await {
                    Ok(rows) => rows.iter().map(|r| decode(r)).collect(),
                    Err(e) => Err(errors.error(e)),
                }
            }
        }
    };
}
pub(crate) use impl_conn;

/// Binds `arg` to the next placeholder of `query`, on either database.
pub(crate) fn bind<'q, DB>(
    query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    arg: Arg,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
{
    match arg {
        Arg::Text(v) => query.bind(v),
        Arg::OptText(v) => query.bind(v),
        Arg::Int(v) => query.bind(v),
        Arg::OptInt(v) => query.bind(v),
        Arg::Bytes(v) => query.bind(v),
    }
}

/// Typed access to a row's columns by name, whichever database it came
/// from; a missing column or a value of the wrong type is
/// [`StoreError::Corrupt`].
pub(crate) trait Columns {
    /// A non-null text column.
    fn text(&self, name: &str) -> StoreResult<String>;
    /// A nullable text column.
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>>;
    /// A non-null integer column.
    fn int(&self, name: &str) -> StoreResult<i64>;
    /// A nullable integer column.
    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>>;
    /// A non-null binary column.
    fn bytes(&self, name: &str) -> StoreResult<Vec<u8>>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, name: &str) -> StoreResult<String> {
        column(self, name)
    }

    fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        column(self, name)
    }

    fn int(&self, name: &str) -> StoreResult<i64> {
        column(self, name)
    }

    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>> {
        column(self, name)
    }

    fn bytes(&self, name: &str) -> StoreResult<Vec<u8>> {
        column(self, name)
    }
}

fn column<R, T>(row: &R, name: &str) -> StoreResult<T>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column `{name}`: {e}")))
}

/// A JSON text column, decoded.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &dyn Columns,
    name: &str,
) -> StoreResult<T> {
    serde_json::from_str(&row.text(name)?)
        .map_err(|e| StoreError::Corrupt(format!("column `{name}`: {e}")))
}

/// A value as JSON text, for a JSON text column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T, what: &str) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {what}: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use sqlx::{Connection, SqliteConnection};

    use super::*;

    /// The fact the shared SQL text rests on: SQLite binds `$N` by number,
    /// not by position, so a placeholder may repeat and come in any order.
    #[tokio::test]
    async fn sqlite_binds_numbered_placeholders_by_number() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let row: (i64, String, i64) = sqlx::query_as("SELECT $2, $1, $2 + $3")
            .bind("one")
            .bind(2_i64)
            .bind(40_i64)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(row, (2, "one".to_owned(), 42));
        conn.close().await.unwrap();
    }

    #[test]
    fn locks_are_appended_only_where_the_dialect_has_them() {
        let stmt = Stmt::new("SELECT 1 FROM t WHERE id = $1")
            .bind("x")
            .locking(RowLock::Update);
        let (pg, args, _) = stmt.clone().into_parts(RowLock::postgres_clause);
        assert_eq!(pg, "SELECT 1 FROM t WHERE id = $1 FOR UPDATE");
        assert_eq!(args, [Arg::Text("x".into())]);
        let (sqlite, _, _) = stmt.into_parts(|_| "");
        assert_eq!(sqlite, "SELECT 1 FROM t WHERE id = $1");
    }
}
