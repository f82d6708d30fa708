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

/// One line of a PostgreSQL plan.
#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// One step of an SQLite query plan.
#[derive(diesel::QueryableByName)]
struct PlanStep {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// The tables `sql` reads whole, as the backend plans it without statistics (a freshly
/// migrated database that was never analyzed, as after a bulk load with autovacuum off).
///
/// `sql` names its parameters `$1`, `$2` ... as the code binds them. On PostgreSQL it is
/// prepared and explained under `plan_cache_mode = force_generic_plan`: the plan a bound query
/// gets once cached, which cannot look at the values. On SQLite the values are written into the
/// query and `EXPLAIN QUERY PLAN` read; a `SCAN` (of the table or of a whole index) is a full
/// scan, a `SEARCH` is not.
pub fn full_scans(conn: &mut crate::db::AnyConnection, sql: &str, args: &[&str]) -> diesel::QueryResult<Vec<String>> {
    use diesel::RunQueryDsl as _;
    let literal = |a: &str| format!("'{}'", a.replace('\'', "''"));
    match conn {
        crate::db::AnyConnection::Postgresql(pg) => {
            pg.batch_execute(&format!("SET plan_cache_mode = force_generic_plan; PREPARE caseflow_plan AS {sql}"))?;
            let values: Vec<String> = args.iter().map(|a| literal(a)).collect();
            let execute = if values.is_empty() {
                "EXPLAIN EXECUTE caseflow_plan".to_owned()
            } else {
                format!("EXPLAIN EXECUTE caseflow_plan({})", values.join(", "))
            };
            let plan: Vec<PlanLine> = diesel::sql_query(execute).load(pg)?;
            pg.batch_execute("DEALLOCATE caseflow_plan; RESET plan_cache_mode")?;
            Ok(plan
                .into_iter()
                .filter_map(|l| {
                    l.line.split("Seq Scan on ").nth(1).map(|t| t.split_whitespace().next().unwrap_or("").to_owned())
                })
                .collect())
        }
        crate::db::AnyConnection::Sqlite(lite) => {
            let mut bound = sql.to_owned();
            for (i, a) in args.iter().enumerate().rev() {
                bound = bound.replace(&format!("${}", i + 1), &literal(a));
            }
            let plan: Vec<PlanStep> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {bound}")).load(lite)?;
            Ok(plan
                .into_iter()
                .filter_map(|s| {
                    s.detail.strip_prefix("SCAN ").map(|t| t.split_whitespace().next().unwrap_or("").to_owned())
                })
                .filter(|t| t != "CONSTANT")
                .collect())
        }
    }
}

/// Loads `rows` (SQL statements, run as one batch) into `db`, then checks that none of the
/// `hot` queries (what, SQL with `$n` binds, the values) reads a table whole, and fails naming
/// each one that does. For the services' plans tests.
pub async fn assert_no_full_scans(db: &crate::db::Db, rows: String, hot: &'static [(&str, &str, &[&str])]) {
    use diesel::connection::SimpleConnection as _;
    db.write(move |c| c.batch_execute(&rows).map_err(crate::db::DbError::from)).await.expect("rows loaded");
    let found = db
        .read(move |c| {
            let mut found = Vec::new();
            for (what, sql, args) in hot {
                let scans = full_scans(c, sql, args)?;
                if !scans.is_empty() {
                    found.push(format!("{what}: reads {} whole", scans.join(", ")));
                }
            }
            Ok::<_, crate::db::DbError>(found)
        })
        .await
        .expect("plans");
    assert!(found.is_empty(), "full scans of growing tables:\n{}", found.join("\n"));
}
