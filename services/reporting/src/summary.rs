//! The bulletin's narrative figures for one source and period: the total with its year-on-year
//! change, the channel split, categories (level 1, per case) with shares, kinds, on-time
//! completion with the late completions by unit, and the single-visit figures. Every figure is
//! recomputed from the read model, and the invariants (channels add up to the total, shares
//! to 100 % within rounding) are checked before the summary is returned.

use std::collections::BTreeMap;

use caseflow_rates::Rate;
use serde::{Deserialize, Serialize};

use crate::attachments::Broken;

const BUILTIN_TAXONOMY: &str = include_str!("../../../deploy/policy/taxonomy.toml");

#[derive(Debug, Deserialize)]
struct TaxonomyFile {
    categories: Vec<Level1>,
}

#[derive(Debug, Deserialize)]
struct Level1 {
    code: String,
    name: String,
    #[serde(default)]
    subcategories: Vec<Level2>,
}

#[derive(Debug, Deserialize)]
struct Level2 {
    code: String,
    name: String,
}

/// Category names by code: level 1 (城市管理) and level 2 (`urban_management.cooking_fume` 餐饮油烟),
/// read from the built-in taxonomy once.
pub fn category_names() -> &'static BTreeMap<String, String> {
    static NAMES: std::sync::LazyLock<BTreeMap<String, String>> = std::sync::LazyLock::new(|| {
        let Ok(file) = toml::from_str::<TaxonomyFile>(BUILTIN_TAXONOMY) else {
            return BTreeMap::new();
        };
        let mut names = BTreeMap::new();
        for c in file.categories {
            for s in c.subcategories {
                names.insert(format!("{}.{}", c.code, s.code), s.name);
            }
            names.insert(c.code, c.name);
        }
        names
    });
    &NAMES
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Count {
    pub key: String,
    pub label: String,
    pub count: u64,
    /// Same period a year earlier.
    pub last_year: u64,
    /// (this - last) / last in percent, rounded half-up as printed: one decimal, two when under
    /// 1 % in magnitude (FIGURES.md); absent when last year had none.
    pub change: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Share {
    pub key: String,
    pub label: String,
    pub count: u64,
    /// Percent of all cases of the source, two decimals.
    pub share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LateUnit {
    pub unit: String,
    pub late: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SingleVisit {
    /// Cases admitted under 最多投一次.
    pub admitted: u64,
    pub first_cases: u64,
    /// admitted / first cases, percent with one decimal.
    pub share_of_first_cases: Option<f64>,
    /// Resolved with no repeat case after them (一次性办结), percent of admitted, one decimal.
    pub first_time_resolution: Option<f64>,
    /// Mean days from receipt to resolution of the resolved ones, one decimal.
    pub average_days: Option<f64>,
}

/// 领导接访: batches, persons, matters, and each matter's outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Receptions {
    pub batches: u64,
    pub persons: u64,
    pub matters: u64,
    pub solved_on_spot: u64,
    pub resolved: u64,
    pub in_progress: u64,
}

impl Receptions {
    /// From (reception id, persons on the row, outcome) rows.
    pub fn from_rows(rows: &[(String, i32, String)]) -> Result<Self, Broken> {
        let mut r = Self::default();
        let mut batches = std::collections::BTreeSet::new();
        for (id, persons, outcome) in rows {
            batches.insert(id.as_str());
            r.persons += u64::try_from(*persons).unwrap_or(0);
            r.matters += 1;
            match outcome.as_str() {
                "solved_on_spot" => r.solved_on_spot += 1,
                "resolved" => r.resolved += 1,
                _ => r.in_progress += 1,
            }
        }
        r.batches = batches.len() as u64;
        if r.solved_on_spot + r.resolved + r.in_progress != r.matters {
            return Err(Broken("reception outcomes do not add up to the matters".into()));
        }
        Ok(r)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Summary {
    pub source: String,
    /// The totals, channels, categories and kinds count cases; completion counts dispatches.
    pub count_unit: &'static str,
    pub total: Count,
    pub channels: Vec<Count>,
    pub categories: Vec<Share>,
    pub kinds: Vec<Share>,
    pub resolved_dispatches: u64,
    pub on_time: u64,
    /// 按期办结率, percent with one decimal.
    pub on_time_rate: Option<f64>,
    pub late_by_unit: Vec<LateUnit>,
    pub single_visit: SingleVisit,
    /// Petition summaries only (the bulletin reports them with the petitions).
    pub leader_receptions: Option<Receptions>,
    /// Sub-categories and words of the matters' summaries that grew most against the period
    /// just before (of the same length).
    pub hot_topics: HotTopics,
    /// Petitions: persons with more than one petition in the period, by masked name.
    pub repeat_petitioners: Vec<RepeatPetitioner>,
    /// Petitions: collective visits (集体访), batches and persons.
    pub collective_visits: Option<CollectiveVisits>,
    /// Petitions: the first petitions' (初信初访件) completion on time, the figure the
    /// bulletin's 按期办结率 is (99.6 %, one late at 城管局).
    pub first_petitions: Option<FirstPetitions>,
    /// Petitions: the petition office's decisions on the period's petitions (信访工作条例
    /// 第二十二条): every petition counts in the channels; only accepted ones go to units.
    pub decisions: Option<Decisions>,
    /// Petitions: 复查 and 复核 requested in the period, with their outcomes as of the moment
    /// (信访工作条例 第三十五条, 第三十六条).
    pub reviews: Option<crate::reviews::ReviewFigures>,
    /// Evaluation figures: petitions (信访机构 and 有权处理机关), hotline (overall, per case).
    pub evaluation: EvaluationFigures,
    /// Units under each target (强基促稳指标): petitions 70 % participation and 85 %
    /// satisfaction, hotline 98 % satisfaction (as of the end of every deadline).
    pub below_targets: BelowTargets,
}

/// The first petitions' resolved dispatches: how many on time, the rate, the late ones by unit.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FirstPetitions {
    pub resolved: u64,
    pub on_time: u64,
    /// 按期办结率, percent with one decimal; absent when none was resolved.
    pub on_time_rate: Option<f64>,
    pub late_by_unit: Vec<LateUnit>,
}

impl FirstPetitions {
    /// From each unit's dispatch cells, settled: the first cases' resolutions on time and late.
    pub fn of(cells: &BTreeMap<String, crate::rollup::DispatchCells>) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let on_time = cells.values().map(|c| count(c.first_on_time)).sum::<u64>();
        let mut late_by_unit: Vec<LateUnit> = cells
            .iter()
            .filter(|(_, c)| c.first_late > 0)
            .map(|(unit, c)| LateUnit { unit: unit.clone(), late: count(c.first_late) })
            .collect();
        let resolved = on_time + late_by_unit.iter().map(|l| l.late).sum::<u64>();
        late_by_unit.sort_by(|a, b| b.late.cmp(&a.late).then_with(|| a.unit.cmp(&b.unit)));
        Self { resolved, on_time, on_time_rate: Rate::of(on_time, resolved).map(|r| r.percent(1)), late_by_unit }
    }
}

/// What the petition office decided on the period's petitions. registered = accepted +
/// not accepted + no longer accepted + forwarded + pending, checked.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Decisions {
    pub registered: u64,
    /// 受理: sent to the units with the power to handle them.
    pub accepted: u64,
    /// 不予受理, by the legal channel named: litigation, arbitration, administrative_review,
    /// other_statutory.
    pub not_accepted: Vec<Count>,
    /// 不再受理: the facts of a concluded review.
    pub no_longer_accepted: u64,
    /// 转送: to a body outside the district.
    pub forwarded: u64,
    /// Registered, no decision recorded yet.
    pub pending: u64,
    /// Decided after the 15 days.
    pub late: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct BelowTargets {
    pub participation: Vec<String>,
    pub petition_satisfaction: Vec<String>,
    pub hotline_satisfaction: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Growth {
    pub key: String,
    pub label: String,
    pub count: u64,
    /// In the period before; none when that period holds no case at all (nothing to compare).
    pub previous: Option<u64>,
    /// count - previous; none when there is nothing to compare.
    pub growth: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HotTopics {
    pub previous_from: Option<chrono::DateTime<chrono::Utc>>,
    pub previous_to: Option<chrono::DateTime<chrono::Utc>>,
    /// Cases of the source received in the period before. When none, the lists are the most
    /// frequent topics of this period, not the ones that grew.
    pub previous_cases: u64,
    /// Cases per sub-category (level 2).
    pub categories: Vec<Growth>,
    /// Cases whose matters' summaries use the word (jieba segmentation).
    pub keywords: Vec<Growth>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RepeatPetitioner {
    /// Masked (陈**).
    pub name: String,
    pub petitions: u64,
    /// Their latest petition of the period: where intake reveals and logs the clear name.
    pub case_id: String,
    /// Only for a role that may reveal and asked to, with a reason (logged by intake).
    pub clear_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CollectiveVisits {
    pub batches: u64,
    pub persons: u64,
}

/// Evaluations of one kind of subject, with the rates as FIGURES.md defines them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Evaluated {
    pub due: u64,
    pub expired: u64,
    pub satisfied: u64,
    pub basic: u64,
    pub unsatisfied: u64,
    /// Rated / due, percent with one decimal.
    pub participation: Option<f64>,
    /// (satisfied + basic) / rated, percent with one decimal.
    pub satisfaction: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct EvaluationFigures {
    /// Petitions: the petition agency (信访机构).
    pub agency: Option<Evaluated>,
    /// Petitions: all handling units together (有权处理机关).
    pub units: Option<Evaluated>,
    /// Hotline: cases rated unsatisfied (by case, not dispatch).
    pub unsatisfied_cases: Option<u64>,
    /// Hotline: (cases - unsatisfied cases) / cases, percent with two decimals.
    pub overall_satisfaction: Option<f64>,
}

impl Evaluated {
    pub fn from_cells(c: &crate::rollup::RatingCells) -> Result<Self, Broken> {
        let n = |v: i64, what: &str| u64::try_from(v).map_err(|_| Broken(format!("{what} is negative ({v})")));
        let (due, expired) = (n(c.due, "due")?, n(c.expired, "expired")?);
        let (satisfied, basic, unsatisfied) =
            (n(c.satisfied, "satisfied")?, n(c.basic, "basic")?, n(c.unsatisfied, "unsatisfied")?);
        let rated = satisfied + basic + unsatisfied;
        if rated + expired > due {
            return Err(Broken(format!("rated {rated} + expired {expired} exceed due {due}")));
        }
        Ok(Self {
            due,
            expired,
            satisfied,
            basic,
            unsatisfied,
            participation: caseflow_rates::participation(due, due - rated).map(|r| r.percent(1)),
            satisfaction: caseflow_rates::petition_satisfaction(satisfied, basic, unsatisfied).map(|r| r.percent(1)),
        })
    }
}

/// The `top` entries that grew most (by count), growth first, then the larger count, then key.
/// Without an earlier period to compare with (`compared` false), the most frequent entries,
/// with no growth: a word is not "up by N" over a period nothing was recorded in.
pub fn growth(
    now: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
    compared: bool,
    top: usize,
    label: impl Fn(&str) -> String,
) -> Vec<Growth> {
    let mut v: Vec<Growth> = now
        .iter()
        .map(|(k, n)| {
            let p = before.get(k).copied().unwrap_or(0);
            let grew = i64::try_from(*n).unwrap_or(i64::MAX) - i64::try_from(p).unwrap_or(i64::MAX);
            Growth {
                key: k.clone(),
                label: label(k),
                count: *n,
                previous: compared.then_some(p),
                growth: compared.then_some(grew),
            }
        })
        .filter(|g| g.growth.is_none_or(|n| n > 0))
        .collect();
    v.sort_by(|a, b| b.growth.cmp(&a.growth).then_with(|| b.count.cmp(&a.count)).then_with(|| a.key.cmp(&b.key)));
    v.truncate(top);
    v
}

/// Cases per (dimension, value), as `read::case_counts` returns them.
pub type CaseCounts = BTreeMap<(String, String), u64>;

fn dimension<'a>(counts: &'a CaseCounts, name: &'a str) -> impl Iterator<Item = (&'a String, u64)> + 'a {
    counts.iter().filter(move |((d, _), _)| d == name).map(|((_, v), n)| (v, *n))
}

fn single(counts: &CaseCounts, name: &str) -> u64 {
    dimension(counts, name).map(|(_, n)| n).sum()
}

fn change(this: u64, last: u64) -> Option<f64> {
    caseflow_rates::Change::of(this, last).map(caseflow_rates::Change::percent)
}

fn channel_label(c: &str) -> &str {
    match c {
        "letter" => "来信",
        "visit" => "来访",
        "online_complaint" => "网上投诉",
        "leader_mailbox" => "领导信箱",
        "phone" => "电话",
        "web" => "网站",
        "app" => "APP",
        "mini_program" => "小程序",
        "merged_hotline" => "并线热线",
        other => other,
    }
}

fn kind_label(k: &str) -> &str {
    match k {
        "complaint" => "投诉",
        "suggestion" => "建议",
        "inquiry" => "咨询",
        "help_request" => "求助",
        other => other,
    }
}

fn shares(counts: BTreeMap<String, u64>, total: u64, label: impl Fn(&str) -> String) -> Vec<Share> {
    let mut v: Vec<Share> = counts
        .into_iter()
        .map(|(key, count)| Share {
            label: label(&key),
            share: Rate::of(count, total).map(|r| r.percent(2)),
            key,
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v
}

pub fn build(
    source: &str,
    cases: &CaseCounts,
    last_year: &CaseCounts,
    dispatches: &BTreeMap<String, crate::rollup::DispatchCells>,
    single_visit: &crate::single_visit::SingleVisitCells,
) -> Result<Summary, Broken> {
    let names = category_names();
    let total = single(cases, "total");
    let total_last = single(last_year, "total");
    let channel_now: BTreeMap<&String, u64> = dimension(cases, "channel").collect();
    let channel_last: BTreeMap<&String, u64> = dimension(last_year, "channel").collect();
    let mut keys: Vec<&String> = channel_now.keys().chain(channel_last.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    let channels: Vec<Count> = keys
        .into_iter()
        .map(|k| {
            let (n, l) = (channel_now.get(k).copied().unwrap_or(0), channel_last.get(k).copied().unwrap_or(0));
            Count { key: k.clone(), label: channel_label(k).to_owned(), count: n, last_year: l, change: change(n, l) }
        })
        .collect();
    if channels.iter().map(|c| c.count).sum::<u64>() != total {
        return Err(Broken("channels do not add up to the total".into()));
    }
    let by_category: BTreeMap<String, u64> = dimension(cases, "category").map(|(k, n)| (k.clone(), n)).collect();
    let by_kind: BTreeMap<String, u64> = dimension(cases, "kind").map(|(k, n)| (k.clone(), n)).collect();
    if by_category.values().sum::<u64>() != total {
        return Err(Broken("categories do not add up to the total".into()));
    }
    // Every hotline order has a kind (投诉/建议/咨询/求助); petitions have none.
    if source == "hotline" && by_kind.values().sum::<u64>() != total {
        return Err(Broken("hotline kinds do not add up to the total".into()));
    }
    let categories = shares(by_category, total, |k| names.get(k).cloned().unwrap_or_else(|| k.to_owned()));
    let kinds = shares(by_kind, total, |k| kind_label(k).to_owned());
    let share_sum: f64 = categories.iter().filter_map(|s| s.share).sum();
    if total > 0 && (share_sum - 100.0).abs() > 0.005 * categories.len() as f64 + 1e-9 {
        return Err(Broken(format!("category shares add up to {share_sum:.2} %")));
    }

    let mut on_time = 0;
    let mut late_by_unit = Vec::new();
    for (unit, c) in dispatches {
        on_time += u64::try_from(c.on_time).map_err(|_| Broken(format!("{unit}: on time is negative")))?;
        let late = u64::try_from(c.late).map_err(|_| Broken(format!("{unit}: late is negative")))?;
        if late > 0 {
            late_by_unit.push(LateUnit { unit: unit.clone(), late });
        }
    }
    late_by_unit.sort_by(|a, b| b.late.cmp(&a.late).then_with(|| a.unit.cmp(&b.unit)));
    let resolved = on_time + late_by_unit.iter().map(|l| l.late).sum::<u64>();

    let admitted = single(cases, "single_visit");
    let first_cases = single(cases, "first");
    let once =
        u64::try_from(single_visit.once).map_err(|_| Broken("single-visit cases resolved once are negative".into()))?;
    let average_days = (single_visit.resolved > 0).then(|| {
        let days = single_visit.resolution_secs as f64 / 86_400.0 / single_visit.resolved as f64;
        (days * 10.0).round() / 10.0
    });
    Ok(Summary {
        source: source.to_owned(),
        count_unit: "cases",
        total: Count {
            key: "total".into(),
            label: "合计".into(),
            count: total,
            last_year: total_last,
            change: change(total, total_last),
        },
        channels,
        categories,
        kinds,
        resolved_dispatches: resolved,
        on_time,
        on_time_rate: Rate::of(on_time, resolved).map(|r| r.percent(1)),
        late_by_unit,
        single_visit: SingleVisit {
            admitted,
            first_cases,
            share_of_first_cases: Rate::of(admitted, first_cases).map(|r| r.percent(1)),
            first_time_resolution: Rate::of(once, admitted).map(|r| r.percent(1)),
            average_days,
        },
        leader_receptions: None,
        hot_topics: HotTopics::default(),
        repeat_petitioners: Vec::new(),
        collective_visits: None,
        first_petitions: None,
        decisions: (source == "petition").then(|| decisions(cases, total)).transpose()?,
        reviews: None,
        evaluation: EvaluationFigures::default(),
        below_targets: BelowTargets::default(),
    })
}

fn legal_channel_label(c: &str) -> &str {
    match c {
        "litigation" => "诉讼",
        "arbitration" => "仲裁",
        "administrative_review" => "行政复议",
        "other_statutory" => "其他法定途径",
        other => other,
    }
}

/// The decisions on the petitions counted in `cases`, which add up to the petitions.
fn decisions(cases: &CaseCounts, total: u64) -> Result<Decisions, Broken> {
    let mut d = Decisions { registered: total, ..Decisions::default() };
    for (value, n) in dimension(cases, "decision") {
        match value.split_once('.') {
            Some(("not_accepted", channel)) => d.not_accepted.push(Count {
                key: channel.to_owned(),
                label: legal_channel_label(channel).to_owned(),
                count: n,
                last_year: 0,
                change: None,
            }),
            _ => match value.as_str() {
                "accepted" => d.accepted += n,
                "no_longer_accepted" => d.no_longer_accepted += n,
                "forwarded" => d.forwarded += n,
                other => return Err(Broken(format!("unknown decision '{other}'"))),
            },
        }
    }
    d.late = single(cases, "decision_late");
    let decided = d.accepted + d.no_longer_accepted + d.forwarded + d.not_accepted.iter().map(|c| c.count).sum::<u64>();
    d.pending =
        total.checked_sub(decided).ok_or_else(|| Broken(format!("{decided} decisions on {total} petitions")))?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_petitions_are_on_time_unless_resolved_after_their_deadline() {
        use crate::rollup::DispatchCells;
        let cells = BTreeMap::from([
            (
                "chengguan".to_owned(),
                DispatchCells { on_time: 3, late: 2, first_on_time: 1, first_late: 1, ..DispatchCells::default() },
            ),
            ("zhujian".to_owned(), DispatchCells { on_time: 4, first_on_time: 1, ..DispatchCells::default() }),
        ]);
        let f = FirstPetitions::of(&cells);
        assert_eq!((f.resolved, f.on_time, f.on_time_rate), (3, 2, Some(66.7)));
        assert_eq!(f.late_by_unit, vec![LateUnit { unit: "chengguan".into(), late: 1 }]);
    }

    #[test]
    fn year_on_year_changes_match_the_bulletin() {
        // FIGURES.md: 602 vs 614 -> -2.0 %, letters 144 vs 175 -> -17.7 %, visits 47 vs 55 ->
        // -14.5 %, online 154 vs 204 -> -24.5 %, leader mailbox 257 vs 180 -> +42.8 %.
        assert_eq!(change(602, 614), Some(-2.0));
        assert_eq!(change(144, 175), Some(-17.7));
        assert_eq!(change(47, 55), Some(-14.5));
        assert_eq!(change(154, 204), Some(-24.5));
        assert_eq!(change(257, 180), Some(42.8));
        assert_eq!(change(3, 0), None, "no change against nothing");
    }

    #[test]
    fn category_shares_are_per_case_over_all_cases() {
        // 836 of 2577 -> 32.44 %, 344 -> 13.35 %, 210 -> 8.15 %, 202 -> 7.84 % (the seed prints 7.39).
        let s = shares(
            BTreeMap::from([
                ("a".to_owned(), 836),
                ("b".to_owned(), 344),
                ("c".to_owned(), 210),
                ("d".to_owned(), 202),
            ]),
            2577,
            str::to_owned,
        );
        let got: Vec<Option<f64>> = s.iter().map(|x| x.share).collect();
        assert_eq!(got, [Some(32.44), Some(13.35), Some(8.15), Some(7.84)]);
    }
}
