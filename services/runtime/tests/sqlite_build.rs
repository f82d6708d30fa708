//! The bundled SQLite is built as `.cargo/config.toml` asks: with its query planner stability
//! guarantee, so that a statement whose `LIMIT ?` (every diesel `.first()`) is bound again is
//! run as prepared instead of being parsed and planned anew on each call.

use caseflow_runtime::db::{Db, DbError};
use caseflow_runtime::event_log::MIGRATIONS;
use caseflow_runtime::testing::TestDatabase;
use diesel::prelude::*;

#[derive(QueryableByName)]
struct CompileOption {
    #[diesel(sql_type = diesel::sql_types::Text)]
    compile_options: String,
}

#[tokio::test]
async fn sqlite_is_built_with_its_query_planner_stability_guarantee() {
    // The option is SQLite's; on PostgreSQL there is nothing to check.
    if caseflow_runtime::testing::postgres_url().is_some() {
        return;
    }
    let test_db = TestDatabase::new("sqlite_build");
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database opens");
    let options = db
        .read(|c| diesel::sql_query("PRAGMA compile_options").load::<CompileOption>(c).map_err(DbError::from))
        .await
        .expect("the options read");
    assert!(
        options.iter().any(|o| o.compile_options == "ENABLE_QPSG"),
        "libsqlite3-sys was built without SQLITE_ENABLE_QPSG (.cargo/config.toml sets LIBSQLITE3_FLAGS): {:?}",
        options.iter().map(|o| o.compile_options.as_str()).collect::<Vec<_>>()
    );
}
