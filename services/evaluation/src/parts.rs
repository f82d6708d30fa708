//! The parts of a case's evaluation, each with its own window, expiry and follow-ups.
//!
//! A hotline case is one part, `case`: its rating belongs to the case and applies to each
//! unit's dispatch. A petition is rated in parts at their own times, as the bulletin reports
//! them apart (the petition office 98.9 %, the units 59.5 %): the petition office's own step
//! (`agency`: registration, acceptance or forwarding, the written notice; 信访工作条例
//! 第二十二条), opened by its decision, and each handling unit's (its code), opened when the unit
//! has resolved every matter of the case it leads.

use caseflow_proto::v1 as pb;
use caseflow_runtime::clock::district_offset;
use caseflow_runtime::{AnyConnection, ErrorKind, Problem, event_log, time};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;

use crate::service::{EvaluationError, Surveys};
use crate::store::{MatterRow, PartRow, eval_cases, eval_matters, evaluation_parts, evaluation_ratings};

/// The part of a hotline case's evaluation.
pub const CASE: &str = "case";
/// The petition office's part of a petition's evaluation (信访机构).
pub const AGENCY: &str = "agency";

/// Open to a rating: due, or invited to rate once more after an explanation.
pub fn is_open(status: &str) -> bool {
    matches!(status, "due" | "re_rating_invited")
}

/// The case's parts, the petition office's first, then the units by code.
pub fn of_case(c: &mut AnyConnection, case_id: &str) -> QueryResult<Vec<PartRow>> {
    let mut parts: Vec<PartRow> = evaluation_parts::table
        .filter(evaluation_parts::case_id.eq(case_id))
        .order(evaluation_parts::part.asc())
        .select(PartRow::as_select())
        .load(c)?;
    parts.sort_by_key(|p| p.part != AGENCY);
    Ok(parts)
}

pub fn find(c: &mut AnyConnection, case_id: &str, part: &str) -> QueryResult<Option<PartRow>> {
    evaluation_parts::table.find((case_id, part)).select(PartRow::as_select()).first(c).optional()
}

fn leads(c: &mut AnyConnection, case_id: &str) -> QueryResult<Vec<MatterRow>> {
    eval_matters::table
        .filter(eval_matters::case_id.eq(case_id))
        .order(eval_matters::matter_id.asc())
        .select(MatterRow::as_select())
        .load(c)
}

/// The handling units of a case: the units leading its matters, each once, by code.
pub fn units(c: &mut AnyConnection, case_id: &str) -> QueryResult<Vec<String>> {
    let mut units: Vec<String> = leads(c, case_id)?.into_iter().filter_map(|m| m.lead_unit).collect();
    units.sort();
    units.dedup();
    Ok(units)
}

/// The subjects a part's rating applies to: the petition office itself; a unit's lead
/// dispatches in the case; for a hotline case, every matter's lead dispatch.
pub fn subjects(c: &mut AnyConnection, case_id: &str, part: &str) -> QueryResult<Vec<pb::SubjectRating>> {
    if part == AGENCY {
        return Ok(vec![pb::SubjectRating { subject: AGENCY.into(), ..Default::default() }]);
    }
    let mut out = Vec::new();
    for m in leads(c, case_id)? {
        if let (Some(unit), Some(dispatch)) = (m.lead_unit, m.lead_dispatch)
            && (part == CASE || unit == part)
        {
            out.push(pb::SubjectRating { subject: unit, dispatch_id: dispatch, ..Default::default() });
        }
    }
    Ok(out)
}

/// Whether `unit` has resolved every matter of the case it leads (and leads one).
pub fn unit_resolved_all(c: &mut AnyConnection, case_id: &str, unit: &str) -> QueryResult<bool> {
    let open: i64 = eval_matters::table
        .filter(eval_matters::case_id.eq(case_id))
        .filter(eval_matters::lead_unit.eq(unit))
        .filter(eval_matters::resolved.eq(false))
        .count()
        .get_result(c)?;
    Ok(open == 0)
}

pub fn append(
    c: &mut AnyConnection,
    now: DateTime<Utc>,
    case_id: &str,
    kind: pb::evaluation_event::Kind,
) -> QueryResult<()> {
    event_log::append(c, now, case_id, &pb::EvaluationEvent { kind: Some(kind) })
}

/// The end of the district day `days` after `now`'s.
fn end_of_day_after(now: DateTime<Utc>, days: u32) -> NaiveDateTime {
    let day = now.with_timezone(&district_offset()).date_naive() + Duration::days(i64::from(days) + 1);
    district_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc).naive_utc())
        .unwrap_or(now.naive_utc())
}

/// Opens `part` of the case's evaluation at `now`, or re-opens it once after re-handling. A
/// repeated opening (a second resolution, a replayed decision) never makes a second survey.
pub fn open(
    c: &mut AnyConnection,
    surveys: &Surveys,
    case_id: &str,
    part: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let (source, received_at): (String, NaiveDateTime) =
        eval_cases::table.find(case_id).select((eval_cases::source, eval_cases::received_at)).first(c)?;
    let received_on = received_at.and_utc().with_timezone(&district_offset()).date_naive();
    let window_ends = end_of_day_after(now, surveys.policy.window_days(&source, received_on));
    let cycle = match find(c, case_id, part)? {
        None => {
            diesel::insert_into(evaluation_parts::table)
                .values(PartRow {
                    case_id: case_id.to_owned(),
                    part: part.to_owned(),
                    source: source.clone(),
                    status: "due".into(),
                    cycle: 1,
                    reopened: false,
                    rerated: false,
                    opened_at: now.naive_utc(),
                    window_ends,
                    version: 1,
                })
                .execute(c)?;
            1
        }
        Some(mut e) if e.status == "awaiting_rehandling" && !e.reopened => {
            e.cycle += 1;
            e.reopened = true;
            e.rerated = false;
            e.status = "due".into();
            e.opened_at = now.naive_utc();
            e.window_ends = window_ends;
            e.version += 1;
            // A rating that won the race is read again when the batch is applied again.
            if !saved(c, &e)? {
                return Err(diesel::result::Error::RollbackTransaction);
            }
            caseflow_runtime::db::kept::update(
                evaluation_ratings::table
                    .filter(evaluation_ratings::case_id.eq(case_id))
                    .filter(evaluation_ratings::part.eq(part)),
                evaluation_ratings::superseded.eq(true),
            )
            .execute(c)?;
            e.cycle
        }
        Some(_) => return Ok(()),
    };
    let subjects = subjects(c, case_id, part)?;
    append(
        c,
        now,
        case_id,
        pb::evaluation_event::Kind::Due(pb::EvaluationDue {
            case_id: case_id.to_owned(),
            source: pb::CaseSource::from_code(&source) as i32,
            cycle,
            due_at: Some(time::to_proto(now)),
            window_ends: Some(time::to_proto(window_ends.and_utc())),
            subjects,
            part: part.to_owned(),
        }),
    )
}

/// Writes `e`, whose version was raised by one, if the stored row still has the version it was
/// read with. On PostgreSQL two transactions may read the same part (a rating and the expiry
/// job, or two replicas' jobs): the second to write finds the version moved.
pub fn saved(c: &mut AnyConnection, e: &PartRow) -> QueryResult<bool> {
    let n = caseflow_runtime::db::kept::update(
        evaluation_parts::table
            .filter(evaluation_parts::case_id.eq(&e.case_id))
            .filter(evaluation_parts::part.eq(&e.part))
            .filter(evaluation_parts::version.eq(e.version - 1)),
        e,
    )
    .execute(c)?;
    Ok(n == 1)
}

/// [`saved`], refusing the request when a concurrent change won.
pub fn save(c: &mut AnyConnection, e: &PartRow) -> Result<(), EvaluationError> {
    if saved(c, e)? {
        return Ok(());
    }
    Err(Problem::new(ErrorKind::Conflict, "the evaluation changed while this request ran; read it again and retry")
        .with_rule("evaluation.concurrent")
        .into())
}

/// A due part whose window closed: expired (超期未评), or, after an explanation that was never
/// answered, the first rating stands. Nothing happens, and false is returned, when someone
/// changed the part since it was read: the row is saved first, the event appended only then.
pub fn expire(c: &mut AnyConnection, mut e: PartRow, now: DateTime<Utc>) -> Result<bool, EvaluationError> {
    let invited = e.status == "re_rating_invited";
    e.status = if invited { "rated".into() } else { "expired".into() };
    e.version += 1;
    if !saved(c, &e)? {
        return Ok(false);
    }
    if !invited {
        let subjects = subjects(c, &e.case_id, &e.part)?;
        append(
            c,
            now,
            &e.case_id,
            pb::evaluation_event::Kind::Expired(pb::Expired {
                case_id: e.case_id.clone(),
                source: pb::CaseSource::from_code(&e.source) as i32,
                cycle: e.cycle,
                at: Some(time::to_proto(e.window_ends.and_utc())),
                subjects,
                part: e.part.clone(),
            }),
        )?;
    }
    Ok(true)
}

/// How a part is named to the caller: `the petition office's part` or `unit 'x''s part`.
pub fn named(part: &str) -> String {
    match part {
        AGENCY => "the petition office's part".to_owned(),
        CASE => "the case's evaluation".to_owned(),
        unit => format!("unit '{unit}''s part"),
    }
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::Db;
    use caseflow_runtime::event_log;
    use caseflow_runtime::testing::TestDatabase;

    use super::*;

    #[derive(QueryableByName)]
    struct Counted {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// Two transactions that read the same evaluation (a rating and the expiry job, or two
    /// replicas' jobs): the second to write finds the version moved and changes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_evaluation_is_neither_saved_nor_expired_twice() {
        let test_db = TestDatabase::new("evaluation_versions");
        let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &crate::MIGRATIONS]).await.expect("db");
        let opened = chrono::NaiveDate::from_ymd_opt(2020, 3, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("date");
        let row = PartRow {
            case_id: "case-1".into(),
            part: CASE.into(),
            source: "hotline".into(),
            status: "due".into(),
            cycle: 1,
            reopened: false,
            rerated: false,
            opened_at: opened,
            window_ends: opened + chrono::Duration::days(7),
            version: 1,
        };
        let now = Utc::now();
        let (expired_first, expired_again, events, status) = db
            .write(move |c| {
                diesel::insert_into(evaluation_parts::table).values(&row).execute(c)?;
                let read_by_the_job = row.clone();
                let mut read_by_a_rating = row.clone();
                read_by_a_rating.status = "rated".into();
                read_by_a_rating.version += 1;
                save(c, &read_by_a_rating)?;
                let expired_first = expire(c, read_by_the_job.clone(), now)?;
                let expired_again = expire(c, read_by_the_job, now)?;
                let events = diesel::sql_query("SELECT COUNT(*) AS n FROM outbox_events").get_result::<Counted>(c)?.n;
                let status: String =
                    evaluation_parts::table.find(("case-1", CASE)).select(evaluation_parts::status).first(c)?;
                Ok::<_, EvaluationError>((expired_first, expired_again, events, status))
            })
            .await
            .expect("runs");
        assert!(!expired_first && !expired_again, "the job's stale copy expires nothing");
        assert_eq!(events, 0, "and appends no Expired event");
        assert_eq!(status, "rated", "the rating that won stands");
    }
}
