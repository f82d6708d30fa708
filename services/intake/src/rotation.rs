//! Rotating the citizen-data key while intake runs (`caseflow rotate-citizen-key`).
//!
//! The operator first restarts intake with the new key as `citizen_data_key` and the old one as
//! `citizen_data_key_previous`: from then on everything is written under the new key, and what
//! was written under the old one is still read (`CitizenVault`). This module then walks the
//! cases in id order, a batch per transaction, and for each case written under the old key:
//!
//! - decrypts the name, phone and ID number and encrypts them again under the new key;
//! - computes the person hashes (phone, ID number, person) again under the new key;
//! - re-keys the resend fingerprint field by field: each field's value is rebuilt from the row,
//!   its matters and the decrypted citizen data, checked against the old digest, and digested
//!   under the new key. A field whose value the row does not keep (`related_case_id`, when it is
//!   not the case's first) cannot be checked: its digest is left empty, and a resend is not
//!   compared on it (counted as `unverified`).
//!
//! The last case done is recorded with the batch, in the same transaction: a rotation stopped at
//! any point resumes where it stopped, and running it again after it finished changes nothing.
//! When it reports `finished`, the old key can be removed from the configuration.

use std::collections::BTreeMap;

use caseflow_runtime::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::citizen::CitizenVault;
use crate::error::IntakeError;
use crate::store::{MatterRow, cases, matters};

diesel::table! {
    citizen_key_rotation (id) {
        id -> Integer,
        key_check -> Text,
        last_case -> Text,
        examined -> BigInt,
        rewritten -> BigInt,
        unverified -> BigInt,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

/// Where a rotation stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Cases looked at so far.
    pub examined: i64,
    /// Cases written again under the new key.
    pub rewritten: i64,
    /// Fingerprint fields that could not be checked and were left out of resend comparison.
    pub unverified: i64,
    /// The last case done, in id order.
    pub last_case: String,
    pub finished: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = cases)]
struct Row {
    id: String,
    channel: String,
    kind: String,
    purpose: String,
    accused_unit: Option<String>,
    category: String,
    content: String,
    sub_district: String,
    address: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    received_at: chrono::NaiveDateTime,
    anonymous: bool,
    hide_identity: bool,
    citizen_name_enc: Option<String>,
    citizen_phone_enc: Option<String>,
    citizen_id_enc: Option<String>,
    visit_batches: Option<i32>,
    visit_persons: Option<i32>,
    joint_signers: Option<i32>,
    single_visit: bool,
    repeat_of: Option<String>,
    fingerprint: String,
}

/// The digest a rotation checks the new key by.
fn key_check(vault: &CitizenVault) -> String {
    vault.fingerprint("caseflow/rotation", "key-check")
}

/// Rotates one batch of at most `batch` cases; call until `finished`. The vault must hold the
/// key being retired as its previous key.
pub async fn step(db: &Db, vault: &CitizenVault, batch: i64, now: DateTime<Utc>) -> Result<Progress, IntakeError> {
    let old = vault.previous().ok_or_else(|| {
        IntakeError::Db(DbError::Config(
            "intake.citizen_data_key_previous must name the key being retired while a rotation runs".into(),
        ))
    })?;
    let vault = vault.clone();
    db.write(move |c| {
        let check = key_check(&vault);
        let state: Option<(String, String, i64, i64, i64, Option<chrono::NaiveDateTime>)> = citizen_key_rotation::table
            .find(1)
            .select((
                citizen_key_rotation::key_check,
                citizen_key_rotation::last_case,
                citizen_key_rotation::examined,
                citizen_key_rotation::rewritten,
                citizen_key_rotation::unverified,
                citizen_key_rotation::finished_at,
            ))
            .first(c)
            .optional()?;
        let mut progress = match state {
            Some((k, last_case, examined, rewritten, unverified, finished)) if k == check => {
                Progress { examined, rewritten, unverified, last_case, finished: finished.is_some() }
            }
            Some((_, _, _, _, _, None)) => {
                return Err(IntakeError::Db(DbError::Config(
                    "a rotation to another key is unfinished: finish it with that key first".into(),
                )));
            }
            // A new rotation (or one to another key after the last finished).
            _ => {
                diesel::delete(citizen_key_rotation::table).execute(c)?;
                diesel::insert_into(citizen_key_rotation::table)
                    .values((
                        citizen_key_rotation::id.eq(1),
                        citizen_key_rotation::key_check.eq(&check),
                        citizen_key_rotation::last_case.eq(""),
                        citizen_key_rotation::examined.eq(0),
                        citizen_key_rotation::rewritten.eq(0),
                        citizen_key_rotation::unverified.eq(0),
                        citizen_key_rotation::started_at.eq(now.naive_utc()),
                    ))
                    .execute(c)?;
                Progress::default()
            }
        };
        if progress.finished {
            return Ok(progress);
        }
        let rows: Vec<Row> = cases::table
            .filter(cases::id.gt(&progress.last_case))
            .order(cases::id.asc())
            .limit(batch)
            .select(Row::as_select())
            .load(c)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut matters_of: BTreeMap<String, Vec<MatterRow>> = BTreeMap::new();
        for m in matters::table
            .filter(matters::case_id.eq_any(&ids))
            .order((matters::case_id, matters::ordinal))
            .select(MatterRow::as_select())
            .load::<MatterRow>(c)?
        {
            matters_of.entry(m.case_id.clone()).or_default().push(m);
        }
        for row in &rows {
            progress.examined += 1;
            let written_under_old = [&row.citizen_name_enc, &row.citizen_phone_enc, &row.citizen_id_enc]
                .into_iter()
                .flatten()
                .any(|e| !vault.is_current(e));
            let stored: BTreeMap<String, String> = serde_json::from_str(&row.fingerprint).unwrap_or_default();
            if !written_under_old && is_current_digest(&vault, &stored, row) {
                continue;
            }
            let open = |v: &Option<String>| v.as_deref().map(|e| vault.decrypt(e)).transpose();
            let (name, phone, id_number) =
                (open(&row.citizen_name_enc)?, open(&row.citizen_phone_enc)?, open(&row.citizen_id_enc)?);
            let candidates = candidates(
                row,
                matters_of.get(&row.id).map(Vec::as_slice).unwrap_or_default(),
                &name,
                &phone,
                &id_number,
            );
            let mut rekeyed = BTreeMap::new();
            for (field, digest) in &stored {
                let value = candidates.get(field.as_str()).and_then(|values| {
                    values
                        .iter()
                        .find(|v| old.fingerprint(field, v) == *digest || vault.fingerprint(field, v) == *digest)
                });
                match value {
                    Some(v) => {
                        rekeyed.insert(field.clone(), vault.fingerprint(field, v));
                    }
                    None => {
                        if !digest.is_empty() {
                            progress.unverified += 1;
                        }
                        rekeyed.insert(field.clone(), String::new());
                    }
                }
            }
            let phone_key = phone.as_deref().map(|v| vault.person_key("phone", v));
            let id_key = id_number.as_deref().map(|v| vault.person_key("id", v));
            diesel::update(cases::table.find(&row.id))
                .set((
                    cases::citizen_name_enc.eq(name.as_deref().map(|v| vault.encrypt(v))),
                    cases::citizen_phone_enc.eq(phone.as_deref().map(|v| vault.encrypt(v))),
                    cases::citizen_id_enc.eq(id_number.as_deref().map(|v| vault.encrypt(v))),
                    cases::person_key.eq(phone_key.clone().or_else(|| id_key.clone())),
                    cases::phone_key.eq(phone_key),
                    cases::id_key.eq(id_key),
                    cases::fingerprint.eq(serde_json::to_string(&rekeyed).unwrap_or_default()),
                ))
                .execute(c)?;
            progress.rewritten += 1;
        }
        if let Some(last) = rows.last() {
            progress.last_case = last.id.clone();
        }
        progress.finished = i64::try_from(rows.len()).unwrap_or(i64::MAX) < batch;
        diesel::update(citizen_key_rotation::table.find(1))
            .set((
                citizen_key_rotation::last_case.eq(&progress.last_case),
                citizen_key_rotation::examined.eq(progress.examined),
                citizen_key_rotation::rewritten.eq(progress.rewritten),
                citizen_key_rotation::unverified.eq(progress.unverified),
                citizen_key_rotation::finished_at.eq(progress.finished.then(|| now.naive_utc())),
            ))
            .execute(c)?;
        Ok::<_, IntakeError>(progress)
    })
    .await
}

/// Whether the fingerprint's `received_at` digest (a field every case has) is under the current
/// key: a case written after the restart with the new key needs nothing.
fn is_current_digest(vault: &CitizenVault, stored: &BTreeMap<String, String>, row: &Row) -> bool {
    stored.get("received_at").is_some_and(|d| *d == vault.fingerprint("received_at", &received_at(row)))
}

fn received_at(row: &Row) -> String {
    row.received_at.and_utc().to_rfc3339()
}

/// The values each fingerprint field may have had, rebuilt from what the row keeps (the same
/// text `NewCase::fingerprint` digested).
fn candidates(
    row: &Row,
    matters: &[MatterRow],
    name: &Option<String>,
    phone: &Option<String>,
    id_number: &Option<String>,
) -> BTreeMap<String, Vec<String>> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
    let mut fields: BTreeMap<String, Vec<String>> = [
        ("received_at", received_at(row)),
        ("channel", row.channel.clone()),
        ("kind", row.kind.clone()),
        ("purpose", row.purpose.clone()),
        ("accused_unit", opt(&row.accused_unit)),
        ("category", row.category.clone()),
        ("content", row.content.clone()),
        ("location.sub_district", row.sub_district.clone()),
        ("location.address", row.address.clone()),
        ("location.coordinates", format!("{:?}", row.latitude.zip(row.longitude))),
        ("citizen.name", opt(name)),
        ("citizen.phone", opt(phone)),
        ("citizen.id_number", opt(id_number)),
        ("citizen.anonymous", row.anonymous.to_string()),
        ("citizen.hide_identity", row.hide_identity.to_string()),
        ("matters", matters.len().to_string()),
        ("visit.batches", num(row.visit_batches)),
        ("visit.persons", num(row.visit_persons)),
        ("joint_letter.signers", num(row.joint_signers)),
        ("single_visit", row.single_visit.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), vec![v]))
    .collect();
    // Not kept: none, or the first case of the chain it was related to (the usual case).
    fields.insert("related_case_id".into(), vec![String::new(), opt(&row.repeat_of)]);
    for (i, m) in matters.iter().enumerate() {
        fields.insert(format!("matters[{i}].category"), vec![m.category.clone()]);
        fields.insert(format!("matters[{i}].summary"), vec![m.summary.clone()]);
        fields.insert(format!("matters[{i}].target_unit"), vec![opt(&m.target_unit)]);
    }
    fields
}

/// Runs [`step`] until the rotation is finished, calling `report` after each batch.
pub async fn run(
    db: &Db,
    vault: &CitizenVault,
    batch: i64,
    clock: &caseflow_runtime::SharedClock,
    mut report: impl FnMut(&Progress),
) -> Result<Progress, IntakeError> {
    loop {
        let progress = step(db, vault, batch.max(1), clock.now()).await?;
        report(&progress);
        if progress.finished {
            return Ok(progress);
        }
    }
}
