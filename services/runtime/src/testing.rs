//! Test databases: a temporary SQLite file, or a fresh PostgreSQL schema when
//! `TEST_DATABASE_URL` is set, dropped again when the guard goes out of scope.

use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;

use crate::db::DatabaseConfig;

/// The PostgreSQL server the suite also runs on, when set.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A database of its own for one service in one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub config: DatabaseConfig,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh, empty database for `service`.
    pub fn new(service: &str) -> Self {
        match postgres_url() {
            Some(url) => {
                let schema =
                    format!("t_{}_{}", service, uuid::Uuid::new_v4().simple().to_string().get(..12).unwrap_or("0"));
                Self {
                    config: DatabaseConfig { url: url.clone(), schema: Some(schema.clone()), pool_size: 4 },
                    _dir: None,
                    pg_schema: Some((url, schema)),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temporary directory for a test database");
                let path = dir.path().join(format!("{service}.db"));
                Self {
                    config: DatabaseConfig { url: format!("sqlite://{}", path.display()), schema: None, pool_size: 4 },
                    _dir: Some(dir),
                    pg_schema: None,
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg_schema.is_some()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg_schema
            && let Ok(mut conn) = diesel::PgConnection::establish(url)
        {
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
        }
    }
}
