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

/// The tables `sql` reads whole on SQLite, which plans without statistics or a table's size:
/// the values are written into the query (`$1`, `$2` ... as the code binds them) and
/// `EXPLAIN QUERY PLAN` read; a `SCAN` (of the table or of a whole index) is a full scan, a
/// `SEARCH` is not.
fn sqlite_full_scans(
    lite: &mut diesel::SqliteConnection,
    sql: &str,
    args: &[&str],
) -> diesel::QueryResult<Vec<String>> {
    use diesel::RunQueryDsl as _;
    let plan: Vec<PlanStep> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {}", bound(sql, args))).load(lite)?;
    Ok(plan
        .into_iter()
        .filter_map(|s| s.detail.strip_prefix("SCAN ").map(|t| t.split_whitespace().next().unwrap_or("").to_owned()))
        .filter(|t| t != "CONSTANT")
        .collect())
}

/// `sql` with its `$n` binds written in as the literals `args`.
fn bound(sql: &str, args: &[&str]) -> String {
    let mut bound = sql.to_owned();
    for (i, a) in args.iter().enumerate().rev() {
        bound = bound.replace(&format!("${}", i + 1), &literal(a));
    }
    bound
}

/// `a` as an SQL string literal.
fn literal(a: &str) -> String {
    format!("'{}'", a.replace('\'', "''"))
}

/// The plan of the prepared statement `name` with `args`, run (`analyze`) or not.
fn explain_prepared(
    pg: &mut diesel::PgConnection,
    name: &str,
    args: &[&str],
    analyze: bool,
) -> diesel::QueryResult<Vec<String>> {
    use diesel::RunQueryDsl as _;
    let values: Vec<String> = args.iter().map(|a| literal(a)).collect();
    let explain = if analyze { "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)" } else { "EXPLAIN" };
    let execute = if values.is_empty() {
        format!("{explain} EXECUTE {name}")
    } else {
        format!("{explain} EXECUTE {name}({})", values.join(", "))
    };
    let plan: Vec<PlanLine> = diesel::sql_query(execute).load(pg)?;
    Ok(plan.into_iter().map(|l| l.line).collect())
}

/// The table a plan line reads whole, if it does.
fn seq_scan(line: &str) -> Option<String> {
    line.split("Seq Scan on ").nth(1).map(|t| t.split_whitespace().next().unwrap_or("").to_owned())
}

/// How many rows a plan line read and threw away, if it says.
fn removed_by_filter(line: &str) -> Option<u64> {
    line.split("Rows Removed by Filter: ").nth(1).and_then(|n| n.trim().parse().ok())
}

/// A seek reads the rows it returns and a few more: a plan node that read and threw away more
/// rows than this is reading a range that grows with the table.
const SEEK_WASTE: u64 = 100;

/// The sizes (rows of `rows` loaded) at which the PostgreSQL check prepares every hot query
/// again: a service's connections plan a statement once, early, and keep that plan for good
/// (nothing but DDL or `ANALYZE` replaces a cached generic plan, and autovacuum may be off), so
/// a plan must hold whether it was made on an empty table or one a few pages long. A query
/// planned on a table of 100 to 200 cases chose the received-at index over the repeat index
/// (equal estimated costs on a small table), and read every case since the window's start.
const PLANNED_AT: &[usize] = &[0, 3, 10, 30, 100, 300, 1000];

/// A query to check: what it is for, its SQL with `$n` binds, the values.
pub type Checked = (&'static str, &'static str, &'static [&'static str]);

/// Loads `rows` (each an SQL batch: the rows of one case, matter or the like) into `db`, then
/// checks that none of the `hot` queries (kept statements) and none of the `replanned` ones
/// (`db::replanned`, planned on every run; `postgres_replanned` in PostgreSQL's own syntax, a
/// batch's rows bound as arrays by `db::arrays`) reads a table whole or reads a growing range to
/// keep a few rows, and fails naming each one that does. For the services' plans tests.
///
/// On PostgreSQL each hot query is prepared at every size of [`PLANNED_AT`] while the rows go in
/// (its generic plan made then, as a service's connection makes it and keeps it), and each plan
/// is run on the full load; a replanned query is planned and run on the full load with its
/// values. A plan fails if it scans a table whole or a node of it throws away more than
/// [`SEEK_WASTE`] rows. On SQLite, which plans without looking at a table's size, each query's
/// plan on the full load must search, not scan.
pub async fn assert_no_full_scans(
    db: &crate::db::Db,
    rows: Vec<String>,
    hot: &'static [Checked],
    replanned: &'static [Checked],
    postgres_replanned: &'static [Checked],
) {
    use diesel::RunQueryDsl as _;
    use diesel::connection::SimpleConnection as _;
    let found = db
        .write(move |c| {
            let mut found = Vec::new();
            match c {
                crate::db::AnyConnection::Postgresql(pg) => {
                    pg.batch_execute("SET plan_cache_mode = force_generic_plan")?;
                    let mut prepared: Vec<(String, usize, usize)> = Vec::new();
                    for (loaded, batch) in rows.iter().enumerate().chain(std::iter::once((rows.len(), &String::new())))
                    {
                        if PLANNED_AT.contains(&loaded) {
                            for (q, (_, sql, args)) in hot.iter().enumerate() {
                                let name = format!("caseflow_plan_{loaded}_{q}");
                                pg.batch_execute(&format!("PREPARE {name} AS {sql}"))?;
                                // The generic plan, made now and kept.
                                explain_prepared(pg, &name, args, false)?;
                                prepared.push((name, q, loaded));
                            }
                        }
                        if !batch.is_empty() {
                            pg.batch_execute(batch)?;
                        }
                    }
                    let mut judge = |what: String, plan: Vec<String>| {
                        let scans: Vec<String> = plan.iter().filter_map(|l| seq_scan(l)).collect();
                        if !scans.is_empty() {
                            found.push(format!("{what}: reads {} whole", scans.join(", ")));
                        }
                        if let Some(waste) = plan.iter().filter_map(|l| removed_by_filter(l)).max()
                            && waste > SEEK_WASTE
                        {
                            found.push(format!("{what}: reads {waste} rows it throws away:\n{}", plan.join("\n")));
                        }
                    };
                    for (name, q, loaded) in &prepared {
                        let (what, _, args) = hot[*q];
                        judge(format!("{what} (planned at {loaded} rows)"), explain_prepared(pg, name, args, true)?);
                    }
                    for (what, sql, args) in replanned.iter().chain(postgres_replanned) {
                        let plan: Vec<PlanLine> =
                            diesel::sql_query(format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {}", bound(sql, args)))
                                .load(pg)?;
                        judge(format!("{what} (replanned)"), plan.into_iter().map(|l| l.line).collect());
                    }
                    pg.batch_execute("DEALLOCATE ALL; RESET plan_cache_mode")?;
                }
                crate::db::AnyConnection::Sqlite(lite) => {
                    lite.batch_execute(&rows.concat())?;
                    for (what, sql, args) in hot.iter().chain(replanned) {
                        let scans = sqlite_full_scans(lite, sql, args)?;
                        if !scans.is_empty() {
                            found.push(format!("{what}: reads {} whole", scans.join(", ")));
                        }
                    }
                }
            }
            Ok::<_, crate::db::DbError>(found)
        })
        .await
        .expect("rows loaded and plans read");
    assert!(found.is_empty(), "plans that read growing tables:\n{}", found.join("\n"));
}
