//! Idempotency keys for the gRPC writes: a call sent again after its answer was lost (the
//! connection cut, the caller or the server killed) is recognised and answered as the first time,
//! never applied twice.
//!
//! A caller that may send a write twice puts a key in [`HEADER`] (the importer derives one from
//! the file and line). The service then:
//! - fingerprints the call: method, act-as role, event time and the encoded message;
//! - looks the key up (keys are per caller: the caller's key name is part of the stored key):
//!   - found with the same fingerprint and an answer: the stored answer (a response, or the
//!     status of a call that wrote and then refused), nothing applied;
//!   - found with another fingerprint: `InvalidArgument` naming the header and the rule
//!     `idempotency.key_reused`;
//!   - found without an answer (the server died in the moment between the write's commit and
//!     its answer's): `AlreadyExists`, rule `idempotency.answer_lost`;
//! - otherwise runs the call. The key is claimed **inside the call's write transaction**
//!   ([`Db::write`](crate::db::Db::write) reads it from a task-local), so the action and its
//!   key commit together or not at all; the answer is stored right after. Two calls racing with
//!   one key: the second's claim breaks the primary key, its transaction rolls back, and it is
//!   answered from the first.
//!
//! Keys are kept for [`KEEP`] after their first use, then dropped when a service starts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use sha2::Digest as _;

use crate::auth::{ACT_AS_HEADER, EVENT_TIME_HEADER};
use crate::db::{AnyConnection, Db, DbError};
use crate::error::{ErrorKind, Problem};

/// The gRPC metadata key that carries a call's idempotency key.
pub const HEADER: &str = "x-caseflow-idempotency-key";

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

/// How long a key is remembered: far longer than any retry, short enough to stay small.
pub const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

diesel::table! {
    idempotency_keys (key) {
        key -> Text,
        fingerprint -> Text,
        response -> Nullable<Binary>,
        status_code -> Nullable<Integer>,
        status_message -> Nullable<Text>,
        status_details -> Nullable<Binary>,
        recorded_at -> Timestamp,
    }
}

/// The key of the call being handled, claimed by its first committed write.
#[derive(Clone, Debug)]
pub(crate) struct Claim {
    key: String,
    fingerprint: String,
    claimed: Arc<AtomicBool>,
    /// Another call with the same key committed first: this call's claim broke the key.
    lost_race: Arc<AtomicBool>,
}

tokio::task_local! {
    static CLAIM: Claim;
}

/// The claim of the call this task is handling, if it carries a key not yet claimed.
/// The id of a record a call makes (a return request, an extension request): derived from the
/// call's idempotency key when it has one, so that a caller whose answer was lost can still
/// name the record ([`derived_id`]); a fresh time-ordered id otherwise. Call it in the call's
/// own task, before its write.
pub fn record_id(kind: &str) -> String {
    match CLAIM.try_with(|c| c.key.clone()) {
        Ok(key) => derived_id(key.split_once('\u{1f}').map_or(key.as_str(), |(_, sent)| sent), kind),
        Err(_) => uuid::Uuid::now_v7().to_string(),
    }
}

/// The id a keyed call with `sent` (the key as its caller sent it) gives the `kind` of record it
/// makes: a UUID (version 8) from the SHA-256 of both.
pub fn derived_id(sent: &str, kind: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{kind}\u{1f}{sent}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).to_string()
}

pub(crate) fn pending_claim() -> Option<Claim> {
    CLAIM.try_with(|c| c.clone()).ok().filter(|c| !c.claimed.load(Ordering::SeqCst))
}

impl Claim {
    /// Records the key in the current transaction. Fails with a unique violation when another
    /// call with the same key committed first.
    pub(crate) fn record(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::key.eq(&self.key),
                idempotency_keys::fingerprint.eq(&self.fingerprint),
                idempotency_keys::response.eq(None::<Vec<u8>>),
                idempotency_keys::recorded_at.eq(Utc::now().naive_utc()),
            ))
            .execute(conn)
            .map(|_| ())
            .inspect_err(|e| {
                if crate::db::is_unique_violation(e) {
                    self.lost_race.store(true, Ordering::SeqCst);
                }
            })
    }

    /// Marks the key claimed once the transaction that recorded it committed.
    pub(crate) fn committed(&self) {
        self.claimed.store(true, Ordering::SeqCst);
    }
}

/// The key a request carries, checked: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
fn key_of<T>(request: &tonic::Request<T>) -> Result<Option<String>, tonic::Status> {
    let Some(value) = request.metadata().get(HEADER) else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()));
    match key {
        Some(k) => Ok(Some(k.to_owned())),
        None => Err(Problem::field(
            HEADER,
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters (letters, digits, punctuation; no spaces)"),
        )
        .with_rule("idempotency.key_format")
        .into()),
    }
}

fn fingerprint<T: prost::Message>(method: &str, request: &tonic::Request<T>) -> String {
    let header = |name: &str| request.metadata().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut hash = sha2::Sha256::new();
    for part in [method.to_owned(), header(ACT_AS_HEADER), header(EVENT_TIME_HEADER)] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.update(request.get_ref().encode_to_vec());
    hex::encode(hash.finalize())
}

/// What the store says about a key.
enum Seen {
    New,
    Answered(Vec<u8>),
    Refused(tonic::Status),
    AnswerLost,
    Reused,
}

/// A stored answer's columns: response, status code, message and details.
type Stored = (Option<Vec<u8>>, Option<i32>, Option<String>, Option<Vec<u8>>);

async fn look_up(db: &Db, key: &str, fingerprint: &str) -> Result<Seen, tonic::Status> {
    let (key, fingerprint) = (key.to_owned(), fingerprint.to_owned());
    db.read(move |conn| -> Result<Seen, DbError> {
        let row: Option<(String, Stored)> = idempotency_keys::table
            .find(&key)
            .select((
                idempotency_keys::fingerprint,
                (
                    idempotency_keys::response,
                    idempotency_keys::status_code,
                    idempotency_keys::status_message,
                    idempotency_keys::status_details,
                ),
            ))
            .first(conn)
            .optional()?;
        Ok(match row {
            None => Seen::New,
            Some((f, _)) if f != fingerprint => Seen::Reused,
            Some((_, (Some(answer), _, _, _))) => Seen::Answered(answer),
            Some((_, (None, Some(code), message, details))) => Seen::Refused(tonic::Status::with_details(
                tonic::Code::from_i32(code),
                message.unwrap_or_default(),
                details.unwrap_or_default().into(),
            )),
            Some((_, (None, None, _, _))) => Seen::AnswerLost,
        })
    })
    .await
    .map_err(|e| Problem::from(e).into())
}

/// Stores the answer of a call whose key its write claimed.
///
/// On PostgreSQL its commit does not wait for the disk (`synchronous_commit = off` for this
/// transaction alone): the call's own write committed durably before, and an answer lost to a
/// crash of the database server leaves the key claimed without one, which a retry is told
/// (`idempotency.answer_lost`) and the importer handles. The caller waits for this commit
/// before it hears its answer, and each keyed call (every imported line) waited for a second
/// flush of the write-ahead log here.
async fn keep_answer(db: &Db, key: String, stored: Stored) {
    let kept = db
        .write(move |conn| -> Result<usize, DbError> {
            if let AnyConnection::Postgresql(pg) = conn {
                diesel::connection::SimpleConnection::batch_execute(pg, "SET LOCAL synchronous_commit = off")?;
            }
            let (response, code, message, details) = stored;
            Ok(crate::db::kept::update(
                idempotency_keys::table.find(&key),
                (
                    idempotency_keys::response.eq(response),
                    idempotency_keys::status_code.eq(code),
                    idempotency_keys::status_message.eq(message),
                    idempotency_keys::status_details.eq(details),
                ),
            )
            .execute(conn)?)
        })
        .await;
    if let Err(e) = kept {
        // The action is applied and its key held; only a replay's answer is lost.
        tracing::warn!(error = %e, "answer of an idempotent call not stored");
    }
}

fn answer<R: prost::Message + Default>(seen: Seen, key: &str) -> Result<tonic::Response<R>, tonic::Status> {
    match seen {
        Seen::Answered(bytes) => R::decode(bytes.as_slice())
            .map(tonic::Response::new)
            .map_err(|e| Problem::internal(&format!("stored answer of idempotency key {key} unreadable: {e}")).into()),
        Seen::Refused(status) => Err(status),
        Seen::AnswerLost => Err(Problem::new(
            ErrorKind::AlreadyExists,
            format!("{HEADER}: the call with this key was applied, and its answer was lost when the service stopped"),
        )
        .with_rule("idempotency.answer_lost")
        .into()),
        Seen::Reused => Err(Problem::field(
            HEADER,
            "this key was already used for another call (method, role, time or message differ)",
        )
        .with_rule("idempotency.key_reused")
        .into()),
        Seen::New => Err(Problem::internal(&"idempotency: no answer to give").into()),
    }
}

/// Handles a write call under its idempotency key, if it carries one (see the module doc).
/// `method` is the gRPC path, `/caseflow.v1.Routing/Land`.
///
/// A keyed call runs as a task of its own: a caller that hangs up mid-call (the importer killed,
/// the connection cut) does not cancel it between its commit and the storing of its answer, so
/// the answer a retry gets is the one the first call made.
pub async fn idempotent<Q, R, F, Fut>(
    db: &Db,
    method: &str,
    request: tonic::Request<Q>,
    handle: F,
) -> Result<tonic::Response<R>, tonic::Status>
where
    Q: prost::Message + 'static,
    R: prost::Message + Default + 'static,
    F: FnOnce(tonic::Request<Q>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>> + Send + 'static,
{
    let Some(sent) = key_of(&request)? else { return handle(request).await };
    let caller = crate::server::grpc_principal(&request)?.name;
    let key = format!("{caller}\u{1f}{sent}");
    let fingerprint = fingerprint(method, &request);
    // One call per key at a time through this service: a retry that arrives while the first call
    // still runs (waiting for a record, say) waits for its answer instead of racing it.
    let gates = db.gates();
    let turn = in_flight(&gates, &key).lock_owned().await;
    match look_up(db, &key, &fingerprint).await {
        Ok(Seen::New) => {}
        seen => {
            drop(turn);
            forget_gate(&gates, &key);
            return answer(seen?, &sent);
        }
    }
    let claim = Claim {
        key: key.clone(),
        fingerprint: fingerprint.clone(),
        claimed: Arc::default(),
        lost_race: Arc::default(),
    };
    let lost_race = claim.lost_race.clone();
    let (store_db, store_key) = (db.clone(), key.clone());
    let call = CLAIM.scope(claim.clone(), async move {
        let outcome = handle(request).await;
        if claim.claimed.load(Ordering::SeqCst) {
            let stored = match &outcome {
                Ok(response) => (Some(response.get_ref().encode_to_vec()), None, None, None),
                Err(status) => (
                    None,
                    Some(status.code() as i32),
                    Some(status.message().to_owned()),
                    Some(status.details().to_vec()),
                ),
            };
            keep_answer(&store_db, store_key, stored).await;
        }
        outcome
    });
    // The task carries what the request's own task holds: its span, and an imported event's time.
    let call = tracing::Instrument::in_current_span(call);
    // The turn ends with the task, not with this caller, who may hang up.
    let (gate_key, task_gates) = (key.clone(), gates.clone());
    let call = async move {
        let outcome = call.await;
        drop(turn);
        forget_gate(&task_gates, &gate_key);
        outcome
    };
    let task = match crate::clock::EVENT_TIME.try_with(|at| *at) {
        Ok(at) => tokio::spawn(crate::clock::EVENT_TIME.scope(at, call)),
        Err(_) => tokio::spawn(call),
    };
    let outcome =
        task.await.map_err(|e| tonic::Status::from(Problem::internal(&format!("idempotent call failed: {e}"))))?;
    match outcome {
        Err(_) if lost_race.load(Ordering::SeqCst) => {
            // A call with the same key committed first and this one's claim broke the key:
            // answer as that one did, once its answer is stored.
            for _ in 0..50 {
                match look_up(db, &key, &fingerprint).await? {
                    Seen::AnswerLost | Seen::New => tokio::time::sleep(Duration::from_millis(20)).await,
                    seen => return answer(seen, &sent),
                }
            }
            answer(Seen::AnswerLost, &sent)
        }
        other => other,
    }
}

/// The keyed calls running through one [`Db`] handle (one service in one process), one gate
/// per key. Replicas have their own: between them, the key's uniqueness decides.
pub(crate) type Gates = std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

fn in_flight(gates: &Gates, key: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut gates = gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    gates.entry(key.to_owned()).or_default().clone()
}

/// Drops a key's gate once nobody holds or waits for it.
fn forget_gate(gates: &Gates, key: &str) {
    let mut gates = gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if gates.get(key).is_some_and(|g| Arc::strong_count(g) == 1) {
        gates.remove(key);
    }
}

/// Drops the keys first used more than [`KEEP`] ago. Run when a service starts.
pub async fn forget_old(db: &Db) -> Result<usize, DbError> {
    let before = (Utc::now() - chrono::Duration::from_std(KEEP).unwrap_or_default()).naive_utc();
    db.write(move |conn| -> Result<usize, DbError> {
        Ok(diesel::delete(idempotency_keys::table.filter(idempotency_keys::recorded_at.lt(before))).execute(conn)?)
    })
    .await
}
