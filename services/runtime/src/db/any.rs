//! The one connection type over both backends. The derive generates a module of its own, so it
//! lives alone here. The generated `MultiBackend` covers the SQL types both backends share
//! (integers, floats, text, bool, binary, date and time); nothing backend-specific is stored.

/// A PostgreSQL or SQLite connection, chosen by the database URL's scheme.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}
