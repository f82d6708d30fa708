//! Repeat petitioners: the persons with more than one petition received in a period.
//!
//! A person's petitions are ordered by receipt, then case id. Each petition with a known
//! petitioner keeps `previous_at`, when the one just before it in that order was received.
//! Within a period [from, to), a person's petitions are the first of them plus those whose
//! `previous_at` is in the period too, so a person petitioned `1 + k` times, where k counts
//! the period's petitions with `previous_at >= from`. A report reads only those k rows,
//! through one covering index, instead of grouping every petition of the period.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use caseflow_runtime::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::report_cases as c;

/// Sets a new petition's `previous_at`, and makes the petition after it (one received
/// earlier, out of order, may already be there) follow it.
pub fn petition_arrived(
    conn: &mut AnyConnection,
    case_id: &str,
    person_key: &str,
    received_at: NaiveDateTime,
) -> QueryResult<()> {
    if person_key.is_empty() {
        return Ok(());
    }
    let mine = || c::table.filter(c::person_key.eq(person_key)).filter(c::source.eq("petition"));
    let before = c::received_at.lt(received_at).or(c::received_at.eq(received_at).and(c::case_id.lt(case_id)));
    let previous: Option<NaiveDateTime> = mine().filter(before).select(diesel::dsl::max(c::received_at)).first(conn)?;
    caseflow_runtime::db::kept::update(c::table.find(case_id), c::previous_at.eq(previous)).execute(conn)?;
    // Only the next one can have followed an earlier petition: any later one follows that one.
    let after = c::received_at.gt(received_at).or(c::received_at.eq(received_at).and(c::case_id.gt(case_id)));
    let next: Option<String> =
        mine().filter(after).order((c::received_at, c::case_id)).select(c::case_id).first(conn).optional()?;
    if let Some(next) = next {
        caseflow_runtime::db::kept::update(c::table.find(next), c::previous_at.eq(Some(received_at))).execute(conn)?;
    }
    Ok(())
}

/// A repeat petitioner of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeater {
    pub person_key: String,
    /// As the latest petition of the period gives it (陈**).
    pub masked_name: String,
    pub petitions: u64,
    /// The latest petition of the period.
    pub case_id: String,
}

/// Petitioners with more than one petition received in [from, to), most first.
pub fn read(conn: &mut AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<Vec<Repeater>> {
    // previous_at <= received_at: both bounds on previous_at keep the read on its index.
    let rows: Vec<(NaiveDateTime, String, String, String)> = c::table
        .filter(c::source.eq("petition"))
        .filter(c::previous_at.ge(from))
        .filter(c::previous_at.lt(to))
        .filter(c::received_at.lt(to))
        .select((c::received_at, c::person_key, c::citizen_masked, c::case_id))
        .load(conn)?;
    // Per person: the first petition of the period plus these, and the latest of them.
    let mut by_person: BTreeMap<String, (u64, NaiveDateTime, String, String)> = BTreeMap::new();
    for (received_at, person, masked, case_id) in rows {
        match by_person.entry(person) {
            Entry::Vacant(v) => {
                v.insert((2, received_at, masked, case_id));
            }
            Entry::Occupied(mut o) => {
                let e = o.get_mut();
                e.0 += 1;
                if (received_at, &case_id) > (e.1, &e.3) {
                    (e.1, e.2, e.3) = (received_at, masked, case_id);
                }
            }
        }
    }
    let mut out: Vec<Repeater> = by_person
        .into_iter()
        .map(|(person_key, (petitions, _, masked_name, case_id))| Repeater {
            person_key,
            masked_name,
            petitions,
            case_id,
        })
        .collect();
    out.sort_by(|a, b| b.petitions.cmp(&a.petitions).then_with(|| a.person_key.cmp(&b.person_key)));
    Ok(out)
}
