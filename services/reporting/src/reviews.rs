//! 复查 and 复核 in the petition summary (信访工作条例 第三十五条, 第三十六条): the reviews
//! requested in a period, by level, with their outcomes as of the moment, the ones still
//! pending, and the ones decided (or still undecided) after their 30 days. Reviews are few (a
//! district has a handful a month), so the figure is read from the period's rows through the
//! index on the moment they were requested.

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::ApplyError;
use caseflow_runtime::{AnyConnection, time};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::store::report_reviews;

/// One level's reviews: requested = upheld + changed + revoked + pending.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ReviewCounts {
    pub requested: u64,
    /// 维持
    pub upheld: u64,
    /// 变更
    pub changed: u64,
    /// 撤销
    pub revoked: u64,
    /// Not decided as of the moment.
    pub pending: u64,
    /// Decided after the 30 days, or undecided past them as of the moment.
    pub late: u64,
}

/// 复查 and 复核 requested in the period.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ReviewFigures {
    /// 复查
    pub review: ReviewCounts,
    /// 复核 (its decision concludes the facts: not accepted again)
    pub re_review: ReviewCounts,
}

fn at(t: Option<&prost_types::Timestamp>, what: &str, position: i64) -> Result<NaiveDateTime, ApplyError> {
    time::from_proto(t, what)
        .map(|t| t.naive_utc())
        .map_err(|p| ApplyError::Refused { position, reason: p.detail.clone() })
}

pub fn requested(c: &mut AnyConnection, r: &pb::ReviewRequested, position: i64) -> Result<(), ApplyError> {
    diesel::insert_into(report_reviews::table)
        .values((
            report_reviews::case_id.eq(&r.case_id),
            report_reviews::level.eq(&r.level),
            report_reviews::requested_at.eq(at(r.requested_at.as_ref(), "requested_at", position)?),
            report_reviews::due_at.eq(at(r.due_at.as_ref(), "due_at", position)?),
        ))
        .execute(c)?;
    Ok(())
}

pub fn decided(c: &mut AnyConnection, d: &pb::ReviewDecided, position: i64) -> Result<(), ApplyError> {
    let n = caseflow_runtime::db::kept::update(
        report_reviews::table.find((&d.case_id, &d.level)),
        (
            report_reviews::decided_at.eq(Some(at(d.decided_at.as_ref(), "decided_at", position)?)),
            report_reviews::outcome.eq(Some(&d.outcome)),
        ),
    )
    .execute(c)?;
    if n == 0 {
        return Err(ApplyError::Refused {
            position,
            reason: format!("a decision on a {} of case {} never requested", d.level, d.case_id),
        });
    }
    Ok(())
}

/// A review's level, due moment, decision moment and outcome.
type Row = (String, NaiveDateTime, Option<NaiveDateTime>, Option<String>);

/// The reviews requested in [from, to), as of `as_of`.
pub fn read(
    c: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
    as_of: NaiveDateTime,
) -> QueryResult<ReviewFigures> {
    let rows: Vec<Row> = report_reviews::table
        .filter(report_reviews::requested_at.ge(from))
        .filter(report_reviews::requested_at.lt(to))
        .filter(report_reviews::requested_at.le(as_of))
        .select((report_reviews::level, report_reviews::due_at, report_reviews::decided_at, report_reviews::outcome))
        .load(c)?;
    Ok(count(&rows, as_of))
}

fn count(rows: &[Row], as_of: NaiveDateTime) -> ReviewFigures {
    let mut f = ReviewFigures::default();
    for (level, due, decided_at, outcome) in rows {
        let n = if level == "re_review" { &mut f.re_review } else { &mut f.review };
        n.requested += 1;
        match (decided_at.filter(|t| *t <= as_of), outcome.as_deref()) {
            (Some(t), Some(outcome)) => {
                match outcome {
                    "upheld" => n.upheld += 1,
                    "changed" => n.changed += 1,
                    _ => n.revoked += 1,
                }
                n.late += u64::from(t > *due);
            }
            _ => {
                n.pending += 1;
                n.late += u64::from(as_of > *due);
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2020, 6, day).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default()
    }

    #[test]
    fn a_review_is_pending_until_decided_as_of_the_moment_and_late_past_its_30_days() {
        let rows: Vec<Row> = vec![
            ("review".into(), t(2), Some(t(3)), Some("upheld".into())),
            ("review".into(), t(2), None, None),
            ("re_review".into(), t(5), Some(t(4)), Some("changed".into())),
        ];
        let f = count(&rows, t(3));
        assert_eq!((f.review.requested, f.review.upheld, f.review.pending, f.review.late), (2, 1, 1, 2));
        assert_eq!((f.re_review.requested, f.re_review.changed, f.re_review.pending), (1, 0, 1), "decided later");
        let later = count(&rows, t(10));
        assert_eq!((later.re_review.changed, later.re_review.late), (1, 0));
    }
}
