//! What all four Caseflow services share: storage over PostgreSQL and SQLite, the event log
//! (outbox, publisher, stream, consumer), identity, the error shape, telemetry, typed config, the
//! injected clock and the server shell. Domain rules live in the services, not here.

pub mod access;
pub mod assets;
pub mod auth;
pub mod awaiting;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod dated;
pub mod db;
pub mod deployment;
pub mod error;
pub mod event_log;
pub mod gathered;
pub mod grpc_client;
pub mod idempotency;
pub mod json_log;
pub mod lease;
pub mod metrics;
pub mod rest;
pub mod server;
pub mod standalone;
pub mod supervise;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod when_due;
pub mod whole;
pub mod words;

pub use auth::{Principal, Role};
pub use clock::{Clock, SharedClock};
pub use db::{AnyConnection, Db, DbError};
pub use error::{ErrorKind, FieldViolation, Problem};
