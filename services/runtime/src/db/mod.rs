//! Storage: one connection type over PostgreSQL and SQLite, pooled, with embedded migrations.
//!
//! The backend is chosen by the URL's scheme (`postgres://`, `postgresql://`, `sqlite://`), and a
//! failed first connection reports the backend's own error. Every diesel call runs on the
//! blocking pool ([`Db::read`], [`Db::write`]), never on an async worker, and carries the
//! current span with it.
//!
//! SQLite allows one writer at a time. Writes go through a pool of one connection, so they queue
//! in Caseflow instead of failing with `SQLITE_BUSY`; reads use their own pool under WAL. On
//! PostgreSQL both share one pool. A service's own schema (or database) holds its tables.

mod announce;
pub use announce::GATHER as ANNOUNCE_GATHER;
pub mod any;
pub mod arrays;
mod group;
pub mod kept;
pub mod native;
pub mod replanned;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::{self, ManageConnection, Pool};
use diesel::{Connection as _, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _};
use serde::Deserialize;
use tokio::sync::Notify;

pub use any::AnyConnection;

use crate::error::{ErrorKind, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://data/intake.db` (relative to the working directory), `sqlite:///abs/path.db`,
    /// or `postgres://user@host:5432/db`.
    pub url: String,
    /// PostgreSQL only: the schema this service's tables live in (created if missing), so that
    /// several services can share one database and still own their data apart.
    #[serde(default)]
    pub schema: Option<String>,
    /// Largest number of open connections (reads; SQLite writes always use one).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_pool_size() -> u32 {
    8
}

/// One embedded migration set per backend; their version numbers must not collide with any
/// other set run on the same database, because all sets share `__diesel_schema_migrations`.
pub struct MigrationSet {
    pub name: &'static str,
    pub postgres: EmbeddedMigrations,
    pub sqlite: EmbeddedMigrations,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database config: {0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration {set}: {message}")]
    Migration { set: &'static str, message: String },
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl From<DbError> for Problem {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                Problem::new(ErrorKind::Unavailable, "storage is unavailable; retry later")
            }
            DbError::Query(diesel::result::Error::NotFound) => Problem::new(ErrorKind::NotFound, "no such record"),
            other => Problem::internal(&other),
        }
    }
}

#[derive(Debug, Clone)]
struct Manager {
    backend: Backend,
    /// File path (SQLite) or URL (PostgreSQL).
    target: String,
    schema: Option<String>,
}

impl Manager {
    fn from_config(config: &DatabaseConfig) -> Result<Self, DbError> {
        let url = config.url.trim();
        let (backend, target) = if let Some(rest) = url.strip_prefix("sqlite://") {
            (Backend::Sqlite, rest.to_owned())
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            (Backend::Sqlite, rest.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(DbError::Config(format!(
                "database.url must start with sqlite:// or postgres:// (got scheme of {:?})",
                url.split(':').next().unwrap_or_default()
            )));
        };
        if backend == Backend::Sqlite {
            if target.is_empty() || target.contains(":memory:") {
                return Err(DbError::Config(
                    "database.url: SQLite needs a file path; in-memory databases are not shared between pooled connections".into(),
                ));
            }
            if config.schema.is_some() {
                return Err(DbError::Config("database.schema applies to PostgreSQL only".into()));
            }
        }
        if let Some(schema) = &config.schema {
            let valid = !schema.is_empty()
                && schema.len() <= 63
                && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !schema.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(DbError::Config(format!(
                    "database.schema {schema:?}: use 1-63 of a-z, 0-9 and _, not starting with a digit"
                )));
            }
        }
        Ok(Self { backend, target, schema: config.schema.clone() })
    }
}

/// A pooled connection, and when the pool last had it back.
pub(crate) struct Pooled {
    conn: AnyConnection,
    returned: std::time::Instant,
}

/// A connection given back this recently is handed out again without a round trip to check
/// it (HikariCP's `aliveBypassWindow`, 500 ms there): under load every checkout found a
/// connection used a moment before, and the check was one more round trip per transaction. A
/// connection the server dropped since fails its first statement, and diesel marks it broken,
/// so the pool discards it when it comes back.
const ALIVE_BYPASS: Duration = Duration::from_secs(1);

/// SQLite keeps temporary files in memory. Each write of a group runs in a savepoint (`group`),
/// and SQLite keeps the original of every page a savepoint changes in a statement journal. That
/// journal stays in memory only up to `SQLITE_STMTJRNL_SPILL` (64 KiB by default) and then
/// becomes a temporary file for the rest of the transaction, unless temporary files are kept in
/// memory (<https://sqlite.org/tempfiles.html>, "Statement Journal Files";
/// <https://sqlite.org/compile.html#stmtjrnl_spill>). Under the write-path bench's import,
/// opening that file and writing it was 10 % of the process's CPU (a profile of the release
/// process with DWARF call stacks); in memory it costs a copy of each page.
///
/// Checkpoints stay at SQLite's default (every 1,000 pages of log, by the committing writer).
/// At 8,000 pages they cost less CPU in all, but each took long enough that the order POST's p99
/// at half load went from 11 ms to 45 ms in the same bench.
const SQLITE_WRITE_PRAGMAS: &str = "PRAGMA temp_store = MEMORY;";

impl Manager {
    fn connect_any(&self) -> Result<AnyConnection, r2d2::Error> {
        self.connect().map(|p| p.conn)
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout covers the moment a
                // checkpoint holds the lock, and comes first: setting the journal mode while
                // another connection writes (a restarted service's predecessor finishing its
                // last batch) would otherwise fail at once with "database is locked"; foreign
                // keys are off by default in SQLite. The rest is for the writer's groups
                // (`SQLITE_WRITE_PRAGMAS`).
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                conn.batch_execute(SQLITE_WRITE_PRAGMAS).map_err(r2d2::Error::QueryError)?;
                AnyConnection::Sqlite(conn)
            }
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.target).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute("SET TIME ZONE 'UTC'").map_err(r2d2::Error::QueryError)?;
                if let Some(schema) = &self.schema {
                    conn.batch_execute(&format!("SET search_path TO \"{schema}\"")).map_err(r2d2::Error::QueryError)?;
                }
                AnyConnection::Postgresql(conn)
            }
        };
        Ok(Pooled { conn, returned: std::time::Instant::now() })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if pooled.returned.elapsed() < ALIVE_BYPASS {
            return Ok(());
        }
        pooled.conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    /// r2d2 asks this of every connection given back: when it says no, that is the moment
    /// the connection went back to the pool.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.returned = std::time::Instant::now();
        std::thread::panicking() || r2d2::R2D2Connection::is_broken(&mut pooled.conn)
    }
}

/// A service's database: pools, migrations run, and a signal raised after every commit that
/// appended to the outbox.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    write: Pool<Manager>,
    read: Pool<Manager>,
    appended: Arc<Notify>,
    /// Set by a commit through this handle that appended to the outbox, taken by the publisher:
    /// a row this process wrote needs no look before stamping.
    appended_here: Arc<AtomicBool>,
    /// What this handle's publisher stamped last, for its streams (`event_log::Recent`).
    recent: Arc<crate::event_log::Recent>,
    /// Write transactions committed through this handle (and its clones).
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// Raised by every commit through this handle and, on PostgreSQL, by every commit another
    /// replica announces on the outbox channel: it wakes whoever waits ([`Db::changes`]).
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// PostgreSQL URL and schema, for the publisher's dedicated LISTEN session.
    manager: Manager,
    /// PostgreSQL: what this process's commits tell the other replicas, sent after each commit
    /// by a session of its own (`announce`).
    announcer: Option<Arc<tokio::sync::watch::Sender<announce::Announced>>>,
    /// The keyed calls running through this handle (`idempotency`).
    gates: Arc<crate::idempotency::Gates>,
    /// Counts for `/metrics`.
    stats: Arc<DbStats>,
    /// SQLite: the thread that runs queued writes in groups, one transaction each (`group`).
    writer: Option<group::Writer>,
}

/// What a service's pools and transactions did since it started, for `/metrics`.
#[derive(Debug, Default)]
pub struct DbStats {
    /// Connections taken from a pool.
    pub acquired: AtomicU64,
    /// Time spent waiting for them, in microseconds.
    pub waited_micros: AtomicU64,
    /// Takes that gave up (the pool stayed exhausted for its timeout, or the database is down).
    pub acquire_failures: AtomicU64,
    /// Write transactions that committed.
    pub committed: AtomicU64,
    /// Write transactions that did not (rolled back by the caller's refusal or a database error).
    pub rolled_back: AtomicU64,
    /// SQLite: the transactions the writer thread ran, each holding one or more of the writes
    /// counted above (`group`).
    pub groups: AtomicU64,
}

impl DbStats {
    fn took(&self, started: std::time::Instant, ok: bool) {
        self.acquired.fetch_add(1, Ordering::Relaxed);
        self.waited_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if !ok {
            self.acquire_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One pool's connections, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    /// "write" or "read" on SQLite (one writer, several readers); "shared" on PostgreSQL.
    pub pool: &'static str,
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

thread_local! {
    /// What the write transaction on this (blocking) thread did to the outbox, set by
    /// [`mark_outbox_append`] and [`mark_outbox_stamped`]; read and cleared by [`Db::write`] when
    /// the transaction ends. A transaction runs on one thread from start to commit, so this
    /// belongs to exactly one transaction at a time.
    static OUTBOX: std::cell::Cell<OutboxChange> = const { std::cell::Cell::new(OutboxChange::NONE) };
}

/// What a write transaction did to the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OutboxChange {
    appended: bool,
    /// The last position it stamped; 0 when it stamped none.
    stamped: i64,
}

impl OutboxChange {
    const NONE: Self = Self { appended: false, stamped: 0 };
}

/// The PostgreSQL notification channel of the current schema's outbox: `NOTIFY` reaches every
/// replica's publisher and streams, whichever process wrote the row. Channel names are
/// identifiers of at most 63 bytes, so the schema is hashed rather than appended.
pub(crate) const OUTBOX_CHANNEL_SQL: &str = "'caseflow_outbox_' || md5(current_schema())";

/// Notes that the current transaction appended to the outbox: once it commits, this process's
/// publisher is woken and, on PostgreSQL, the other replicas are told (`announce`).
pub(crate) fn mark_outbox_append() {
    OUTBOX.with(|o| o.set(OutboxChange { appended: true, ..o.get() }));
}

/// Notes that the current transaction stamped positions up to `last`: once it commits, the
/// other replicas' streams are told on PostgreSQL.
pub(crate) fn mark_outbox_stamped(last: i64) {
    OUTBOX.with(|o| o.set(OutboxChange { stamped: o.get().stamped.max(last), ..o.get() }));
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// Advisory lock key that serializes migrations of replicas starting together on PostgreSQL.
const MIGRATION_LOCK: i64 = 0x6361_7365_666c_6f77; // "caseflow"

impl Db {
    /// Connects, runs every pending migration of `sets` in order, and opens the pools.
    pub async fn connect(config: &DatabaseConfig, sets: Vec<&'static MigrationSet>) -> Result<Self, DbError> {
        let manager = Manager::from_config(config)?;
        let pool_size = config.pool_size.max(1);
        let mut db = tokio::task::spawn_blocking(move || Self::connect_blocking(manager, pool_size, &sets))
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??;
        if db.backend == Backend::Postgres {
            db.announcer = Some(announce::spawn(db.manager.clone()));
        }
        Ok(db)
    }

    fn connect_blocking(manager: Manager, pool_size: u32, sets: &[&'static MigrationSet]) -> Result<Self, DbError> {
        if manager.backend == Backend::Sqlite {
            let path = PathBuf::from(&manager.target);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| DbError::Config(format!("cannot create data directory {}: {e}", parent.display())))?;
            }
        }
        if let (Backend::Postgres, Some(schema)) = (manager.backend, &manager.schema) {
            let mut conn = PgConnection::establish(&manager.target).map_err(|e| DbError::Unavailable(e.to_string()))?;
            conn.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))?;
        }
        // A first connection outside the pool reports the backend's real error.
        let mut first = manager.connect_any().map_err(|e| DbError::Unavailable(e.to_string()))?;
        run_migrations(&mut first, sets)?;
        drop(first);

        let build = |size: u32| {
            Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(10))
                .build(manager.clone())
                .map_err(|e| DbError::Unavailable(e.to_string()))
        };
        let (write, read) = match manager.backend {
            Backend::Sqlite => (build(1)?, build(pool_size)?),
            Backend::Postgres => {
                let pool = build(pool_size)?;
                (pool.clone(), pool)
            }
        };
        let stats = Arc::<DbStats>::default();
        let writer = match manager.backend {
            Backend::Sqlite => Some(
                group::Writer::spawn(write.clone(), stats.clone())
                    .map_err(|e| DbError::Unavailable(format!("cannot start the SQLite writer thread: {e}")))?,
            ),
            Backend::Postgres => None,
        };
        Ok(Self {
            backend: manager.backend,
            write,
            read,
            appended: Arc::new(Notify::new()),
            appended_here: Arc::default(),
            recent: Arc::default(),
            commits: Arc::new(tokio::sync::watch::Sender::new(0)),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
            announcer: None,
            manager,
            gates: Arc::default(),
            stats,
            writer,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Raised after a [`Db::write`] that appended to the outbox committed; the publisher waits on
    /// it. A transaction with no event (the publisher's own stamping, a checkpoint) raises nothing,
    /// so an idle service does no work.
    pub fn outbox_appended(&self) -> &Arc<Notify> {
        &self.appended
    }

    /// True once since a commit through this handle appended to the outbox: that row waits
    /// unless another replica's publisher stamped it meanwhile.
    pub(crate) fn take_appended_here(&self) -> bool {
        self.appended_here.swap(false, Ordering::AcqRel)
    }

    /// The events this handle's publisher stamped last.
    pub(crate) fn recent(&self) -> &crate::event_log::Recent {
        &self.recent
    }

    /// How many write transactions this handle has committed: an idle service's count stands still.
    pub fn commits(&self) -> u64 {
        *self.commits.borrow()
    }

    /// Wakes after each write this process commits to the database (a record another service's
    /// event made, say) and, on PostgreSQL, after each commit of another replica that appended
    /// to the outbox: for a caller that waits for one instead of asking again and again. Take it
    /// before looking, so that a commit between the look and the wait is not missed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Another replica committed (its outbox notification arrived).
    pub(crate) fn changed_elsewhere(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// The pools' and transactions' counts since start.
    pub fn stats(&self) -> &Arc<DbStats> {
        &self.stats
    }

    /// Each pool's size and use now.
    pub fn pool_states(&self) -> Vec<PoolState> {
        let state = |pool: &'static str, p: &Pool<Manager>| {
            let s = p.state();
            PoolState { pool, max: p.max_size(), open: s.connections, idle: s.idle_connections }
        };
        match self.backend {
            Backend::Sqlite => vec![state("write", &self.write), state("read", &self.read)],
            Backend::Postgres => vec![state("shared", &self.write)],
        }
    }

    pub(crate) fn gates(&self) -> Arc<crate::idempotency::Gates> {
        self.gates.clone()
    }

    /// A new connection outside the pools, for a session that must stay open (LISTEN).
    pub(crate) fn dedicated_connection(&self) -> Result<AnyConnection, DbError> {
        self.manager.connect_any().map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Runs `f` on a read connection, off the async runtime.
    pub async fn read<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.read.clone();
        let span = tracing::Span::current();
        let stats = self.stats.clone();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let started = std::time::Instant::now();
                let conn = pool.get();
                stats.took(started, conn.is_ok());
                let mut pooled = conn.map_err(|e| DbError::Unavailable(e.to_string()))?;
                f(&mut pooled.conn)
            })
        })
        .await
        .map_err(|e| E::from(DbError::Unavailable(format!("database task failed: {e}"))))?
    }

    /// Like `read`, in one transaction that sees a single committed state from its first
    /// query to its last (REPEATABLE READ, read only, on PostgreSQL; one deferred transaction
    /// on SQLite in WAL mode): a report that reads a rollup and then the facts that correct it
    /// never sees a projection's batch commit between the two.
    pub async fn snapshot<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.read(move |c| {
            let mut out = None;
            let tx = c.transaction::<(), diesel::result::Error, _>(|c| {
                if let AnyConnection::Postgresql(pg) = c {
                    diesel::RunQueryDsl::execute(
                        diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
                        pg,
                    )?;
                }
                out = Some(f(c));
                Ok(())
            });
            tx.map_err(|e| E::from(DbError::from(e)))?;
            out.unwrap_or_else(|| Err(E::from(DbError::Unavailable("the snapshot did not run".into()))))
        })
        .await
    }

    /// Runs `f` in one transaction on the write connection, off the async runtime. The
    /// transaction commits when `f` returns `Ok` and rolls back otherwise. On SQLite, writes
    /// queued together share one transaction, each in a savepoint of its own (`group`): a
    /// refusal still undoes only its own write, and the answer comes after the commit.
    pub async fn write<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let span = tracing::Span::current();
        // A call under an idempotency key claims it in its first write's transaction.
        let claim = crate::idempotency::pending_claim();
        let claiming = claim.clone();
        let (result, outbox) = match &self.writer {
            Some(writer) => {
                let (answer, answered) = tokio::sync::oneshot::channel();
                let task = Box::new(Write { f, span, claim: claiming, answer });
                if let Err(task) = writer.submit(task) {
                    task.refuse("the SQLite writer thread has stopped");
                }
                answered.await.map_err(|_| E::from(DbError::Unavailable("database task failed".into())))?
            }
            None => {
                let pool = self.write.clone();
                let stats = self.stats.clone();
                tokio::task::spawn_blocking(move || {
                    span.in_scope(|| {
                        let started = std::time::Instant::now();
                        let conn = pool.get();
                        stats.took(started, conn.is_ok());
                        match conn {
                            Err(e) => (Err(E::from(DbError::Unavailable(e.to_string()))), OutboxChange::NONE),
                            Ok(mut pooled) => {
                                write_transaction(&mut pooled.conn, |conn| claimed(conn, f, claiming.as_ref()))
                            }
                        }
                    })
                })
                .await
                .map_err(|e| E::from(DbError::Unavailable(format!("database task failed: {e}"))))?
            }
        };
        if result.is_ok()
            && let Some(claim) = claim
        {
            claim.committed();
        }
        self.ended(result.is_ok(), outbox);
        result
    }

    /// Runs `f` in one transaction on `session` (a connection this caller holds, such as a
    /// consumer's lease session) instead of the pool, with the same signals after the commit.
    pub async fn write_on<R, E, F>(&self, session: &Session, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let conn = session.conn.clone();
        let span = tracing::Span::current();
        let (result, outbox) = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let mut conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                write_transaction(&mut conn, f)
            })
        })
        .await
        .map_err(|e| E::from(DbError::Unavailable(format!("database task failed: {e}"))))?;
        self.ended(result.is_ok(), outbox);
        result
    }

    /// What follows a write transaction: counts, and the signals to whoever waits for commits
    /// and for outbox rows, in this process and (announced) in the other replicas.
    fn ended(&self, committed: bool, outbox: OutboxChange) {
        let outcome = if committed { &self.stats.committed } else { &self.stats.rolled_back };
        outcome.fetch_add(1, Ordering::Relaxed);
        if !committed {
            return;
        }
        self.commits.send_modify(|n| *n += 1);
        self.changes.send_modify(|n| *n += 1);
        if outbox.appended {
            self.appended_here.store(true, Ordering::Release);
            self.appended.notify_one();
        }
        if let Some(announcer) = &self.announcer
            && outbox != OutboxChange::NONE
        {
            announcer.send_modify(|a| a.add(outbox.appended, outbox.stamped));
        }
    }
}

/// A connection of its own that a caller keeps between transactions (see [`Db::write_on`]).
#[derive(Clone)]
pub struct Session {
    conn: Arc<std::sync::Mutex<AnyConnection>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

impl Session {
    pub(crate) fn new(conn: AnyConnection) -> Self {
        Self { conn: Arc::new(std::sync::Mutex::new(conn)) }
    }

    /// Runs `f` on the session's connection, blocking: call from a blocking thread.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut AnyConnection) -> R) -> R {
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut conn)
    }
}

/// A queued [`Db::write`]: the work, the caller's span and idempotency claim, and where its
/// answer goes.
struct Write<R, E, F> {
    f: F,
    span: tracing::Span,
    claim: Option<crate::idempotency::Claim>,
    answer: tokio::sync::oneshot::Sender<(Result<R, E>, OutboxChange)>,
}

/// A [`Write`] that ran, waiting for its group's commit.
struct Written<R, E> {
    result: Result<R, E>,
    outbox: OutboxChange,
    answer: tokio::sync::oneshot::Sender<(Result<R, E>, OutboxChange)>,
}

impl<R, E, F> group::Task for Write<R, E, F>
where
    F: FnOnce(&mut AnyConnection) -> Result<R, E> + Send + 'static,
    R: Send + 'static,
    E: From<DbError> + From<diesel::result::Error> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut AnyConnection) -> Box<dyn group::Finish> {
        let Self { f, span, claim, answer } = *self;
        span.in_scope(|| {
            let (result, outbox) = tracking_outbox(|| claimed(conn, f, claim.as_ref()));
            Box::new(Written { result, outbox, answer }) as Box<dyn group::Finish>
        })
    }

    fn refuse(self: Box<Self>, reason: &str) {
        let _ = self.answer.send((Err(E::from(DbError::Unavailable(reason.to_owned()))), OutboxChange::NONE));
    }
}

impl<R, E> group::Finish for Written<R, E>
where
    R: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, lost: Option<&str>) {
        let answer = match (lost, self.result) {
            (Some(reason), Ok(_)) => {
                (Err(E::from(DbError::Unavailable(format!("the write did not commit: {reason}")))), OutboxChange::NONE)
            }
            (_, Ok(r)) => (Ok(r), self.outbox),
            (_, Err(e)) => (Err(e), OutboxChange::NONE),
        };
        let _ = self.answer.send(answer);
    }
}

/// Runs `f` in a write transaction, and says what it did to the outbox (see
/// [`mark_outbox_append`]). On SQLite it begins `IMMEDIATE`, taking the write lock
/// first: a deferred transaction that read before writing fails at once with "database is
/// locked" when another process (the key rotation, a second `caseflow` on the same files)
/// committed in between, whereas a lock asked for first waits out the busy timeout.
fn write_transaction<R, E, F>(conn: &mut AnyConnection, f: F) -> (Result<R, E>, OutboxChange)
where
    F: FnOnce(&mut AnyConnection) -> Result<R, E>,
    E: From<diesel::result::Error>,
{
    tracking_outbox(|| transaction(conn, f))
}

/// Runs `work` (one write, on this thread) and says what it did to the outbox.
fn tracking_outbox<T>(work: impl FnOnce() -> T) -> (T, OutboxChange) {
    OUTBOX.with(|o| o.set(OutboxChange::NONE));
    let done = work();
    (done, OUTBOX.with(|o| o.replace(OutboxChange::NONE)))
}

/// Runs `f`, then records the call's idempotency key in the same transaction when it has one.
fn claimed<R, E, F>(conn: &mut AnyConnection, f: F, claim: Option<&crate::idempotency::Claim>) -> Result<R, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<R, E>,
    E: From<diesel::result::Error>,
{
    let r = f(conn)?;
    if let Some(claim) = claim {
        claim.record(conn)?;
    }
    Ok(r)
}

/// Runs `step` on a SQLite connection; nothing on PostgreSQL.
fn on_sqlite(
    conn: &mut AnyConnection,
    step: impl FnOnce(&mut SqliteConnection) -> diesel::QueryResult<()>,
) -> diesel::QueryResult<()> {
    match conn {
        AnyConnection::Sqlite(lite) => step(lite),
        AnyConnection::Postgresql(_) => Ok(()),
    }
}

fn transaction<R, E, F>(conn: &mut AnyConnection, f: F) -> Result<R, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<R, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager as _};
    if !matches!(conn, AnyConnection::Sqlite(_)) {
        return conn.transaction(f);
    }
    on_sqlite(conn, |lite| AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE"))?;
    match f(conn) {
        Ok(value) => {
            on_sqlite(conn, AnsiTransactionManager::commit_transaction)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = on_sqlite(conn, AnsiTransactionManager::rollback_transaction) {
                tracing::warn!(error = %rollback, "rolling back a failed transaction failed");
            }
            Err(e)
        }
    }
}

fn run_migrations(conn: &mut AnyConnection, sets: &[&'static MigrationSet]) -> Result<(), DbError> {
    match conn {
        AnyConnection::Postgresql(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = sets.iter().try_for_each(|set| {
                pg.run_pending_migrations(ByRef(&set.postgres))
                    .map(|_| ())
                    .map_err(|e| DbError::Migration { set: set.name, message: e.to_string() })
            });
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result
        }
        AnyConnection::Sqlite(lite) => sets.iter().try_for_each(|set| {
            lite.run_pending_migrations(ByRef(&set.sqlite))
                .map(|_| ())
                .map_err(|e| DbError::Migration { set: set.name, message: e.to_string() })
        }),
    }
}

/// Lets a `static` migration set be run without moving it.
struct ByRef<'a>(&'a EmbeddedMigrations);

impl<DB: diesel::backend::Backend> diesel::migration::MigrationSource<DB> for ByRef<'_> {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        diesel::migration::MigrationSource::<DB>::migrations(self.0)
    }
}

/// True when `e` is a unique-constraint violation (the same on both backends).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}
