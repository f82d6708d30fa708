//! End-to-end tests: the whole system in one process, driven only through public APIs.
//! Each runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set.

mod access;
mod auth;
mod browser;
mod console;
mod deploy;
mod evaluation;
mod hardening;
mod history;
mod idempotency;
mod intake;
mod metrics;
mod operations;
mod petitions;
mod privacy;
mod replicas;
mod reporting;
mod restart;
mod rotation;
mod routing;
mod slice;
mod suggester;
mod tracing_otlp;
mod validation;
