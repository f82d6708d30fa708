//! Per-unit rates from evaluation's own records, with the units below each target listed.
//! (Reporting builds the efficiency office's full tables from the event streams; this is the
//! evaluation desk's own view of how units are doing.)

use std::collections::BTreeMap;

use caseflow_runtime::{Principal, Role};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::rates::{
    HOTLINE_DECIMALS, PETITION_DECIMALS, Rate, hotline_district_satisfaction, hotline_unit_satisfaction, participation,
    petition_satisfaction,
};
use crate::service::{Evaluation, EvaluationError};
use crate::store::{eval_cases, eval_matters, evaluation_parts, evaluation_ratings};

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UnitRates {
    pub unit: String,
    /// Petitions: evaluations due (应评), expired (超期未评) and the final levels.
    pub due: u64,
    pub expired: u64,
    /// Hotline: dispatches completed (处理完毕).
    pub completed: u64,
    pub satisfied: u64,
    pub basic: u64,
    pub unsatisfied: u64,
    /// Percentages as printed (absent when nothing is due).
    pub participation: Option<f64>,
    pub satisfaction: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RateSummary {
    pub source: String,
    /// "dispatches" for unit rows; the district hotline figure is over cases.
    pub count_unit: &'static str,
    pub units: Vec<UnitRates>,
    /// Hotline only: (cases - unsatisfied cases) / cases.
    pub district_cases: u64,
    pub district_unsatisfied_cases: u64,
    pub district_satisfaction: Option<f64>,
    pub below_participation_target: Vec<String>,
    pub below_satisfaction_target: Vec<String>,
}

const READERS: &[Role] = &[Role::Evaluator, Role::EfficiencyOffice, Role::Admin, Role::Dispatcher];

impl Evaluation {
    /// Rates per unit for cases received in [from, to).
    pub async fn rates(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        source: String,
    ) -> Result<RateSummary, EvaluationError> {
        p.require("read rates", READERS)?;
        if source != "hotline" && source != "petition" {
            return Err(caseflow_runtime::Problem::field(
                "source",
                format!("'{source}' is not one of hotline, petition"),
            )
            .into());
        }
        let targets = self.surveys.policy.targets;
        let (f, t, s) = (from.naive_utc(), to.naive_utc(), source.clone());
        let now = self.clock.now().naive_utc();
        let (cases, matters, evals, ratings) = self
            .db
            .read(move |c| {
                let cases: Vec<String> = eval_cases::table
                    .filter(eval_cases::source.eq(&s))
                    .filter(eval_cases::received_at.ge(f))
                    .filter(eval_cases::received_at.lt(t))
                    .select(eval_cases::case_id)
                    .load(c)?;
                let matters: Vec<(String, Option<String>, bool)> = eval_matters::table
                    .filter(eval_matters::case_id.eq_any(&cases))
                    .select((eval_matters::case_id, eval_matters::lead_unit, eval_matters::resolved))
                    .load(c)?;
                // Expiry follows from the window, as overdue does from the deadline: a due
                // evaluation whose window has closed is expired whether or not the expiry job
                // has recorded it yet.
                let evals: Vec<(String, String, String)> = evaluation_parts::table
                    .filter(evaluation_parts::case_id.eq_any(&cases))
                    .select((
                        evaluation_parts::case_id,
                        evaluation_parts::part,
                        evaluation_parts::status,
                        evaluation_parts::window_ends,
                    ))
                    .load::<(String, String, String, chrono::NaiveDateTime)>(c)?
                    .into_iter()
                    .map(|(case, part, status, ends)| {
                        let status = if status == "due" && ends < now { "expired".to_owned() } else { status };
                        (case, part, status)
                    })
                    .collect();
                let ratings: Vec<(String, String, String)> = evaluation_ratings::table
                    .filter(evaluation_ratings::case_id.eq_any(&cases))
                    .filter(evaluation_ratings::superseded.eq(false))
                    .select((evaluation_ratings::case_id, evaluation_ratings::subject, evaluation_ratings::mapped))
                    .load(c)?;
                Ok::<_, EvaluationError>((cases, matters, evals, ratings))
            })
            .await?;
        // A petition's unit is rated on its own part; a hotline case on the case's.
        let status: BTreeMap<(&str, &str), &str> =
            evals.iter().map(|(c, p, s)| ((c.as_str(), p.as_str()), s.as_str())).collect();
        let mut units: BTreeMap<String, UnitRates> = BTreeMap::new();
        for (case_id, unit, resolved) in &matters {
            let Some(unit) = unit else { continue };
            let row =
                units.entry(unit.clone()).or_insert_with(|| UnitRates { unit: unit.clone(), ..UnitRates::default() });
            if *resolved {
                row.completed += 1;
            }
            if source == "petition"
                && let Some(part) = status.get(&(case_id.as_str(), unit.as_str()))
            {
                row.due += 1;
                row.expired += u64::from(*part == "expired");
            }
        }
        let mut unsatisfied_cases = 0;
        for (_, subject, mapped) in &ratings {
            if subject == "case" {
                unsatisfied_cases += u64::from(mapped == "unsatisfied");
                continue;
            }
            let Some(row) = units.get_mut(subject) else { continue };
            match mapped.as_str() {
                "satisfied" => row.satisfied += 1,
                "basic" => row.basic += 1,
                _ => row.unsatisfied += 1,
            }
        }
        let mut below_participation = Vec::new();
        let mut below_satisfaction = Vec::new();
        for row in units.values_mut() {
            let (part, sat, decimals) = if source == "petition" {
                (
                    participation(row.due, row.expired),
                    petition_satisfaction(row.satisfied, row.basic, row.unsatisfied),
                    PETITION_DECIMALS,
                )
            } else {
                (None, hotline_unit_satisfaction(row.completed, row.unsatisfied), HOTLINE_DECIMALS)
            };
            row.participation = part.map(|r| r.percent(decimals));
            row.satisfaction = sat.map(|r| r.percent(decimals));
            let sat_target =
                if source == "petition" { targets.petition_satisfaction } else { targets.hotline_satisfaction };
            if part.is_some_and(|r: Rate| r.below(targets.participation)) {
                below_participation.push(row.unit.clone());
            }
            if sat.is_some_and(|r| r.below(sat_target)) {
                below_satisfaction.push(row.unit.clone());
            }
        }
        let district = (source == "hotline")
            .then(|| hotline_district_satisfaction(cases.len() as u64, unsatisfied_cases))
            .flatten();
        Ok(RateSummary {
            source,
            count_unit: "dispatches",
            units: units.into_values().collect(),
            district_cases: cases.len() as u64,
            district_unsatisfied_cases: unsatisfied_cases,
            district_satisfaction: district.map(|r| r.percent(HOTLINE_DECIMALS)),
            below_participation_target: below_participation,
            below_satisfaction_target: below_satisfaction,
        })
    }
}
