//! The console's pages: each reads through the same service-layer calls as the REST API, with
//! the signed-in user's principal, and renders an askama template.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::charts::{self, Bars, Flows, Lines};
use super::{ConsoleState, Period, User, html, page_error, problem_page};
use crate::attachments::{HotlineRow, PetitionRow, RankRow};
use crate::bulletin::Block;
use caseflow_runtime::Problem;

/// What every page's frame needs: the user, the navigation, the period picker.
pub struct Frame {
    pub title: String,
    pub user_name: String,
    pub role_label: &'static str,
    pub csrf: String,
    pub period: Period,
    /// The path the period picker submits to.
    pub here: String,
    pub nav: Vec<(String, &'static str, bool)>,
}

impl Frame {
    fn new(user: &User, title: impl Into<String>, period: Period, here: &str) -> Self {
        let reads = user.reads_reports();
        let mut items: Vec<(String, &'static str)> = Vec::new();
        if reads {
            items.push(("/console".into(), "总览"));
            items.push(("/console/attachments/1".into(), "附件1 信访评价"));
            items.push(("/console/attachments/2".into(), "附件2 12345办理"));
            items.push(("/console/attachments/3".into(), "附件3 满意率排名"));
        }
        if reads || user.principal.role == caseflow_runtime::Role::Dispatcher {
            items.push(("/console/units".into(), "承办单位"));
        }
        if let Some(u) = &user.principal.unit {
            items.push((format!("/console/units/{}", super::encode(u)), "本单位"));
        }
        if reads {
            items.push(("/console/bounces".into(), "流转与退回"));
            items.push(("/console/bulletin".into(), "信访动态"));
            items.push(("/console/reconciliation".into(), "表格核对"));
        }
        let nav = items.into_iter().map(|(path, label)| (period.link(&path, &[]), label, here == path)).collect();
        Self {
            title: title.into(),
            user_name: user.principal.name.clone(),
            role_label: user.role_label(),
            csrf: user.csrf.clone(),
            period,
            here: here.to_owned(),
            nav,
        }
    }
}

/// The API moments of a page's period, or the page that says what is wrong with it.
pub struct Moments {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: DateTime<Utc>,
    params: HashMap<String, String>,
}

fn moments(period: &Period, now: DateTime<Utc>) -> Result<Moments, Problem> {
    let params = period.api_params()?;
    let p = crate::rest::period(&params, now)?;
    Ok(Moments { from: p.from, to: p.to, as_of: p.as_of, params })
}

/// A page's query: the period it asks for, its moments as the API reads them, the rest of the
/// query, and the moment it was asked. A period the API would refuse gets the problem page,
/// naming the field and the rule, before the handler runs.
pub struct Asked {
    pub period: Period,
    pub m: Moments,
    pub q: HashMap<String, String>,
    pub now: DateTime<Utc>,
}

impl FromRequestParts<ConsoleState> for Asked {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let now = state.rest.clock.now();
        let period = Period::from_query(&q, now);
        let m = moments(&period, now).map_err(|e| problem_page(&e))?;
        Ok(Self { period, m, q, now })
    }
}

/// A table cell: its text, and the link to the facts behind it when it is a count.
#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub numeric: bool,
    pub flag: bool,
}

impl Cell {
    fn text(t: impl Into<String>) -> Self {
        Self { text: t.into(), href: None, numeric: false, flag: false }
    }
    fn count(n: u64, href: String) -> Self {
        Self { text: n.to_string(), href: Some(href), numeric: true, flag: false }
    }
    fn number(t: impl Into<String>) -> Self {
        Self { text: t.into(), href: None, numeric: true, flag: false }
    }
    fn flagged(mut self, flag: bool) -> Self {
        self.flag = flag;
        self
    }
}

/// A sortable column header.
#[derive(Debug, Clone)]
pub struct Column {
    pub label: &'static str,
    pub sort_href: Option<String>,
    /// "▲" / "▼" when the table is sorted by it.
    pub mark: &'static str,
}

/// A table's sections: a title (区直部门, 街道, or none) and its rows.
pub type Sections = Vec<(String, Vec<Vec<Cell>>)>;

/// A table in sections (区直部门, 街道), each sorted as asked.
#[derive(Debug, Clone)]
pub struct Table {
    pub caption: String,
    pub columns: Vec<Column>,
    pub sections: Sections,
}

fn pct(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.decimals$}%"))
}

/// Sorts rows by the cells of column `by`: numbers as numbers, "—" last.
fn sort_rows(rows: &mut [Vec<Cell>], by: usize, descending: bool) {
    let key = |r: &Vec<Cell>| -> Option<f64> { r.get(by).and_then(|c| c.text.trim_end_matches('%').parse().ok()) };
    rows.sort_by(|a, b| {
        let (x, y) = (key(a), key(b));
        match (x, y) {
            (Some(x), Some(y)) => {
                if descending {
                    y.total_cmp(&x)
                } else {
                    x.total_cmp(&y)
                }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => {
                let (s, t) = (a.get(by).map(|c| c.text.as_str()), b.get(by).map(|c| c.text.as_str()));
                if descending { t.cmp(&s) } else { s.cmp(&t) }
            }
        }
    });
}

fn columns(labels: &[&'static str], period: &Period, path: &str, sort: Option<(usize, bool)>) -> Vec<Column> {
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let now_desc = sort.is_some_and(|(c, d)| c == i && d);
            let dir = if now_desc { "asc" } else { "desc" };
            Column {
                label,
                sort_href: Some(period.link(path, &[("sort", &i.to_string()), ("dir", dir)])),
                mark: match sort {
                    Some((c, true)) if c == i => "▼",
                    Some((c, false)) if c == i => "▲",
                    _ => "",
                },
            }
        })
        .collect()
}

fn sort_asked(q: &HashMap<String, String>, width: usize) -> Option<(usize, bool)> {
    let col: usize = q.get("sort")?.parse().ok().filter(|c| *c < width)?;
    Some((col, q.get("dir").is_none_or(|d| d != "asc")))
}

/// The cases of `source` received in the period (of one category, when given).
fn cases_link(period: &Period, source: &str, category: &str) -> String {
    period.link(
        "/console/cells",
        &[("report", "cases"), ("column", "received"), ("source", source), ("category", category)],
    )
}

fn cells_link(period: &Period, report: &str, column: &str, unit: &str) -> String {
    period.link("/console/cells", &[("report", report), ("column", column), ("unit", unit)])
}

fn hotline_cells(r: &HotlineRow, period: &Period, report: &str, target: f64) -> Vec<Cell> {
    let c = |n: u64, col: &str| Cell::count(n, cells_link(period, report, col, &r.unit));
    vec![
        Cell::text(r.name.clone()),
        c(r.received, "received"),
        c(r.in_progress, "in_progress"),
        c(r.completed, "completed"),
        c(r.overdue_view, "overdue_view"),
        c(r.overdue_handling, "overdue_handling"),
        c(r.unsatisfied, "unsatisfied"),
        Cell::number(pct(r.satisfaction, 2)).flagged(r.satisfaction.is_some_and(|v| v < target)),
    ]
}

fn petition_cells(r: &PetitionRow, period: &Period, targets: &caseflow_rates::Targets) -> Vec<Cell> {
    let c = |n: u64, col: &str| Cell::count(n, cells_link(period, "attachment-1", col, &r.unit));
    vec![
        Cell::text(r.name.clone()),
        c(r.due, "due"),
        c(r.expired, "expired"),
        Cell::number(pct(r.participation, 1)).flagged(r.participation.is_some_and(|v| v < targets.participation)),
        c(r.satisfied, "satisfied"),
        c(r.basic, "basic"),
        c(r.unsatisfied, "unsatisfied"),
        Cell::number(pct(r.satisfaction, 1)).flagged(r.satisfaction.is_some_and(|v| v < targets.petition_satisfaction)),
    ]
}

fn rank_cells(r: &RankRow, period: &Period, targets: &caseflow_rates::Targets) -> Vec<Cell> {
    vec![
        Cell::number(r.rank.to_string()),
        Cell::text(r.name.clone()),
        Cell::number(pct(r.satisfaction, 2)).flagged(r.satisfaction.is_some_and(|v| v < targets.hotline_satisfaction)),
        Cell::count(r.received, cells_link(period, "attachment-3", "received", &r.unit)),
        Cell::count(r.unsatisfied, cells_link(period, "attachment-3", "unsatisfied", &r.unit)),
    ]
}

#[derive(Template)]
#[template(path = "console/table_page.html")]
struct TablePage {
    frame: Frame,
    intro: String,
    tables: Vec<Table>,
    downloads: Vec<(String, &'static str)>,
}

pub async fn attachment(
    State(state): State<ConsoleState>,
    user: User,
    Path(n): Path<String>,
    Asked { period, m, q, .. }: Asked,
) -> Response {
    let reports = &state.rest.reports;
    let here = format!("/console/attachments/{n}");
    let p = &user.principal;
    let targets = reports.targets;
    let (title, labels, sections, kind): (&str, &[&'static str], Sections, &str) = match n.as_str() {
        "1" => match reports.attachment_1(p, m.from, m.to, m.as_of).await {
            Ok(a) => (
                "附件1 信访事项群众满意度评价情况",
                &["单位", "应评", "超期未评", "参评率", "满意", "基本满意", "不满意", "满意率"],
                vec![
                    ("区直部门".into(), a.departments.iter().map(|r| petition_cells(r, &period, &targets)).collect()),
                    ("街道".into(), a.sub_districts.iter().map(|r| petition_cells(r, &period, &targets)).collect()),
                ],
                "attachment-1",
            ),
            Err(e) => return problem_page(&e),
        },
        "2" => match reports.attachment_2(p, m.from, m.to, m.as_of).await {
            Ok(a) => (
                "附件2 12345热线工单办理情况",
                &["单位", "受理件数", "正在办理", "处理完毕", "逾期查阅", "逾期办理", "不满意件数", "群众满意率"],
                vec![
                    (
                        "区直部门".into(),
                        a.departments
                            .iter()
                            .map(|r| hotline_cells(r, &period, "attachment-2", targets.hotline_satisfaction))
                            .collect(),
                    ),
                    (
                        "街道".into(),
                        a.sub_districts
                            .iter()
                            .map(|r| hotline_cells(r, &period, "attachment-2", targets.hotline_satisfaction))
                            .collect(),
                    ),
                ],
                "attachment-2",
            ),
            Err(e) => return problem_page(&e),
        },
        "3" => match reports.attachment_3(p, m.from, m.to, m.as_of).await {
            Ok(a) => (
                "附件3 12345热线群众满意率排名",
                &["排名", "单位", "群众满意率", "受理总件数", "不满意件数"],
                vec![
                    ("区直部门".into(), a.departments.iter().map(|r| rank_cells(r, &period, &targets)).collect()),
                    ("街道".into(), a.sub_districts.iter().map(|r| rank_cells(r, &period, &targets)).collect()),
                ],
                "attachment-3",
            ),
            Err(e) => return problem_page(&e),
        },
        _ => return page_error(StatusCode::NOT_FOUND, "没有这个附件", "附件为 1、2、3。"),
    };
    let sort = sort_asked(&q, labels.len());
    let mut sections = sections;
    if let Some((by, desc)) = sort {
        for (_, rows) in &mut sections {
            sort_rows(rows, by, desc);
        }
    }
    let table = Table { caption: title.to_owned(), columns: columns(labels, &period, &here, sort), sections };
    let downloads = vec![
        (period.link(&format!("/console/download/{kind}"), &[("format", "csv")]), "CSV"),
        (period.link("/console/download/workbook", &[]), "XLSX（三个附件）"),
    ];
    let intro = format!(
        "{}。每个数字可点开，查看它所统计的工单。{}",
        period.words(),
        if n == "1" { "参评率低于70%、满意率低于85%的标红。" } else { "满意率低于98%的标红。" }
    );
    html(TablePage { frame: Frame::new(&user, title, period, &here), intro, tables: vec![table], downloads }.render())
}

/// One headline figure against its target.
pub struct Headline {
    pub label: &'static str,
    pub value: String,
    pub target: String,
    pub met: Option<bool>,
    pub href: Option<String>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    frame: Frame,
    headlines: Vec<Headline>,
    weekly: Vec<(&'static str, Lines)>,
    categories: Vec<(&'static str, Bars)>,
    /// The hot topics, each with the link to its cases.
    hot_categories: Vec<(crate::summary::Growth, String)>,
    hot_words: Vec<crate::summary::Growth>,
    compared: bool,
    totals: Vec<(&'static str, u64, String, String)>,
}

fn headline(
    label: &'static str,
    value: Option<f64>,
    target: Option<f64>,
    decimals: usize,
    href: Option<String>,
) -> Headline {
    Headline {
        label,
        value: pct(value, decimals),
        target: target.map_or_else(|| "全部按期".to_owned(), |t| format!("目标 {t}%")),
        met: value.map(|v| v >= target.unwrap_or(100.0)),
        href,
    }
}

pub async fn overview(State(state): State<ConsoleState>, user: User, Asked { period, m, .. }: Asked) -> Response {
    if !user.reads_reports() {
        let home = match &user.principal.unit {
            Some(u) => format!("/console/units/{}", super::encode(u)),
            None => "/console/units".to_owned(),
        };
        return axum::response::Redirect::to(&home).into_response();
    }
    let reports = &state.rest.reports;
    let p = &user.principal;
    let (hotline, petition) = match futures::join!(
        reports.summary(p, "hotline".into(), m.from, m.to, m.as_of),
        reports.summary(p, "petition".into(), m.from, m.to, m.as_of),
    ) {
        (Ok(h), Ok(pe)) => (h, pe),
        (Err(e), _) | (_, Err(e)) => return problem_page(&e),
    };
    let t = reports.targets;
    let units = petition.evaluation.units.clone().unwrap_or_default();
    let headlines = vec![
        headline(
            "12345热线群众满意率",
            hotline.evaluation.overall_satisfaction,
            Some(t.hotline_satisfaction),
            2,
            Some(period.link("/console/attachments/3", &[])),
        ),
        headline(
            "信访事项参评率（承办单位）",
            units.participation,
            Some(t.participation),
            1,
            Some(period.link("/console/attachments/1", &[])),
        ),
        headline(
            "信访事项满意率（承办单位）",
            units.satisfaction,
            Some(t.petition_satisfaction),
            1,
            Some(period.link("/console/attachments/1", &[])),
        ),
        headline(
            "12345热线按期办结率",
            hotline.on_time_rate,
            None,
            1,
            Some(period.link("/console/attachments/2", &[])),
        ),
        headline("信访事项按期办结率", petition.on_time_rate, None, 1, None),
    ];
    let mut weekly = Vec::new();
    let mut categories = Vec::new();
    let mut totals = Vec::new();
    for (source, label, summary) in [("hotline", "12345热线", &hotline), ("petition", "信访", &petition)] {
        let weeks = match reports.weekly_cases(p, source, m.from, m.to).await {
            Ok(w) => w,
            Err(e) => return problem_page(&e),
        };
        let cases_link = |from: &str, to: &str, category: &str| {
            cases_link(
                &Period { from: from.to_owned(), to: to.to_owned(), as_of: period.as_of.clone() },
                source,
                category,
            )
        };
        let now_points = weeks
            .iter()
            .map(|w| {
                let (a, b) = (w.start.to_string(), w.end.to_string());
                (w.start.format("%m-%d").to_string(), w.cases, cases_link(&a, &b, ""))
            })
            .collect();
        let before_points = weeks
            .iter()
            .map(|w| {
                let shift = chrono::Duration::weeks(52);
                let (a, b) = ((w.start - shift).to_string(), (w.end - shift).to_string());
                (w.start.format("%m-%d").to_string(), w.year_before, cases_link(&a, &b, ""))
            })
            .collect();
        weekly.push((
            label,
            charts::lines(vec![
                ("本期".into(), "now".into(), now_points),
                ("上年同期".into(), "before".into(), before_points),
            ]),
        ));
        let bars = summary
            .categories
            .iter()
            .map(|s| (s.label.clone(), s.count, pct(s.share, 2), cases_link(&period.from, &period.to, &s.key)))
            .collect();
        categories.push((label, charts::bars(bars)));
        totals.push((
            label,
            summary.total.count,
            pct(summary.total.change, 1),
            cases_link(&period.from, &period.to, ""),
        ));
    }
    let compared = hotline.hot_topics.previous_cases > 0;
    let hot_categories =
        hotline.hot_topics.categories.iter().map(|g| (g.clone(), cases_link(&period, "hotline", &g.key))).collect();
    let page = Overview {
        frame: Frame::new(&user, "总览", period, "/console"),
        headlines,
        weekly,
        categories,
        hot_categories,
        hot_words: hotline.hot_topics.keywords.clone(),
        compared,
        totals,
    };
    html(page.render())
}

#[derive(Template)]
#[template(path = "console/cells.html")]
struct CellsPage {
    frame: Frame,
    heading: String,
    rows: crate::cells::CellRows,
    facts: Vec<Fact>,
    pages: Vec<(u32, String, bool)>,
    is_cases: bool,
}

/// One fact as the page prints it: times in the district's time, names instead of codes.
struct Fact {
    received: String,
    case_id: String,
    unit: String,
    status: &'static str,
    category: String,
    sub_district: String,
    citizen: String,
    acknowledge_deadline: String,
    acknowledged: String,
    resolve_deadline: String,
    resolved: String,
    rating: &'static str,
}

/// A moment (UTC, as the read model holds it) in the district's time (UTC+8), or nothing.
fn district_time(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| (t + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

fn status_label(status: &str) -> &'static str {
    match status {
        "open" => "办理中",
        "resolved" => "已办结",
        "received" => "已受理",
        "due" => "待评价",
        "rated" => "已评价",
        "expired" => "超期未评",
        "approved" => "已批准",
        "rejected" => "已驳回",
        "pending" => "待审核",
        "returned" => "已退回",
        "superseded" => "已改派",
        _ => "其他",
    }
}

fn rating_label(rating: Option<&str>) -> &'static str {
    match rating {
        Some("satisfied") => "满意",
        Some("basic") => "基本满意",
        Some("unsatisfied") => "不满意",
        _ => "",
    }
}

fn bounce_label(column: &str) -> &'static str {
    match column {
        "resolved" => "办结事项",
        "resolved_on_first_assignment" => "首次派单即办结",
        "returns_asked" => "申请退回",
        "returns_approved" => "退回获批",
        "returns_rejected" => "退回被驳回",
        "wrongful_returns" => "错误退回",
        "history_warnings" => "派单时历史提示",
        "history_warnings_handed_on" => "提示后退回或转办",
        _ => "",
    }
}

fn column_label(report: &str, column: &str) -> &'static str {
    match (report, column) {
        ("cases", _) => "受理件数（件）",
        (_, "received") => "受理件数",
        (_, "in_progress") => "正在办理",
        (_, "completed") => "处理完毕",
        (_, "overdue_view") => "逾期查阅",
        (_, "overdue_handling") => "逾期办理",
        (_, "unsatisfied") => "不满意",
        (_, "due") => "应评",
        (_, "expired") => "超期未评",
        (_, "satisfied") => "满意",
        (_, "basic") => "基本满意",
        _ => "",
    }
}

/// The facts behind a figure, paged: as many rows as the figure says.
pub async fn cells(State(state): State<ConsoleState>, user: User, Asked { period, m, q, now }: Asked) -> Response {
    let mut params = m.params.clone();
    for k in ["report", "column", "unit", "next_unit", "source", "category", "page", "per_page"] {
        if let Some(v) = q.get(k) {
            params.insert(k.to_owned(), v.clone());
        }
    }
    let query = match crate::rest::cell_query(&params, now) {
        Ok(query) => query,
        Err(e) => return problem_page(&e),
    };
    let rows = match state.rest.reports.cells(&user.principal, query).await {
        Ok(r) => r,
        Err(e) => return problem_page(&e),
    };
    let pages_total = rows.count.div_ceil(u64::from(rows.per_page)).max(1);
    let keep: Vec<(&str, String)> = ["report", "column", "unit", "next_unit", "source", "category", "per_page"]
        .iter()
        .filter_map(|k| q.get(*k).map(|v| (*k, v.clone())))
        .collect();
    let pages = (1..=u32::try_from(pages_total.min(50)).unwrap_or(1))
        .map(|n| {
            let page_number = n.to_string();
            let mut extra: Vec<(&str, &str)> = keep.iter().map(|(k, v)| (*k, v.as_str())).collect();
            extra.push(("page", &page_number));
            (n, period.link("/console/cells", &extra), n == rows.page)
        })
        .collect();
    let who = rows.unit.as_deref().map_or_else(
        || "全部单位".to_owned(),
        |u| if u == crate::rollup::AGENCY { "信访机构".to_owned() } else { state.rest.reports.units().name(u) },
    );
    let heading = if rows.report == "moves" {
        let next = rows.next_unit.as_deref().map_or_else(String::new, |u| {
            if u == "triage" { "待分拨".to_owned() } else { state.rest.reports.units().name(u) }
        });
        format!("从{who}转到{next}的事项：{} 件", rows.count)
    } else if rows.report == "bounce" {
        format!("流转与退回 · {} · {}：{} 件", who, bounce_label(&rows.column), rows.count)
    } else if rows.report == "cases" {
        format!(
            "{}受理件数{}：{} 件",
            if rows.source.as_deref() == Some("petition") { "信访" } else { "12345热线" },
            rows.category.as_deref().map(|c| format!("（{c}）")).unwrap_or_default(),
            rows.count
        )
    } else {
        format!(
            "{} · {} · {}：{} 件",
            rows.report.replace("attachment-", "附件"),
            who,
            column_label(&rows.report, &rows.column),
            rows.count
        )
    };
    let is_cases = rows.report == "cases";
    let names = crate::summary::category_names();
    let units = state.rest.reports.units();
    let facts = rows
        .rows
        .iter()
        .map(|r| Fact {
            received: district_time(Some(r.received_at.naive_utc())),
            case_id: r.case_id.clone(),
            unit: r.unit_name.clone(),
            status: status_label(&r.status),
            category: names.get(&r.category).cloned().unwrap_or_else(|| r.category.clone()),
            sub_district: if r.sub_district.is_empty() { String::new() } else { units.name(&r.sub_district) },
            citizen: r.citizen.clone(),
            acknowledge_deadline: district_time(r.acknowledge_deadline.map(|t| t.naive_utc())),
            acknowledged: district_time(r.acknowledged_at.map(|t| t.naive_utc())),
            resolve_deadline: district_time(r.resolve_deadline.map(|t| t.naive_utc())),
            resolved: district_time(r.resolved_at.map(|t| t.naive_utc())),
            rating: rating_label(r.rating.as_deref()),
        })
        .collect();
    html(
        CellsPage {
            frame: Frame::new(&user, "明细", period, "/console/cells"), heading, rows, facts, pages, is_cases
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "console/units.html")]
struct UnitsPage {
    frame: Frame,
    groups: Vec<(&'static str, Vec<(String, String)>)>,
}

pub async fn units(
    State(state): State<ConsoleState>,
    user: User,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let period = Period::from_query(&q, state.rest.clock.now());
    if !user.reads_reports() && user.principal.role != caseflow_runtime::Role::Dispatcher {
        return page_error(StatusCode::FORBIDDEN, "无权查看", "承办单位只能查看本单位的页面。");
    }
    let all = state.rest.reports.units().all();
    let pick = |sub: bool| -> Vec<(String, String)> {
        all.iter()
            .filter(|u| (u.kind == "sub_district") == sub)
            .map(|u| (u.name.clone(), period.link(&format!("/console/units/{}", super::encode(&u.code)), &[])))
            .collect()
    };
    let groups = vec![("区直部门", pick(false)), ("街道", pick(true))];
    html(UnitsPage { frame: Frame::new(&user, "承办单位", period, "/console/units"), groups }.render())
}

#[derive(Template)]
#[template(path = "console/unit.html")]
struct UnitPage {
    frame: Frame,
    view: crate::views::UnitView,
    figures: Table,
    chart: Bars,
    open: Vec<Vec<Cell>>,
    overdue: usize,
    bounce: Vec<(&'static str, Cell)>,
    petition: Option<Vec<Cell>>,
}

pub async fn unit(
    State(state): State<ConsoleState>,
    user: User,
    Path(code): Path<String>,
    Asked { period, m, .. }: Asked,
) -> Response {
    let view = match state.rest.reports.unit_view(&user.principal, &code, m.from, m.to, m.as_of).await {
        Ok(v) => v,
        Err(e) => return problem_page(&e),
    };
    let here = format!("/console/units/{}", super::encode(&code));
    let target = state.rest.reports.targets.hotline_satisfaction;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for (label, first, end, r) in &view.months {
        // A month's counts drill into that month, as of the page's moment.
        let month = Period { from: first.to_string(), to: end.to_string(), as_of: period.as_of.clone() };
        let mut cells = hotline_cells(r, &month, "attachment-2", target);
        cells[0] = Cell::text(label.clone());
        rows.push(cells);
    }
    let mut total = hotline_cells(&view.hotline, &period, "attachment-2", target);
    total[0] = Cell::text("本期合计");
    rows.push(total);
    let figures = Table {
        caption: "12345热线工单（按月，统计口径为批转件数）".into(),
        columns: ["月份", "受理件数", "正在办理", "处理完毕", "逾期查阅", "逾期办理", "不满意件数", "群众满意率"]
            .iter()
            .map(|l| Column { label: l, sort_href: None, mark: "" })
            .collect(),
        sections: vec![(String::new(), rows)],
    };
    let chart = charts::bars(
        view.months
            .iter()
            .map(|(label, first, end, r)| {
                let month = Period { from: first.to_string(), to: end.to_string(), as_of: period.as_of.clone() };
                (
                    label.clone(),
                    r.received,
                    format!("办结 {}", r.completed),
                    cells_link(&month, "attachment-2", "received", &r.unit),
                )
            })
            .collect(),
    );
    let names = crate::summary::category_names();
    let category = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    let open = view
        .open
        .iter()
        .map(|o| {
            vec![
                Cell::text(o.fact.case_id.clone()),
                Cell::text(if o.fact.role == "lead" { "主办" } else { "协办" }),
                Cell::text(district_time(Some(o.fact.received_at))),
                Cell::text(category(&o.category)),
                Cell::text(o.citizen.clone()),
                Cell::text(district_time(o.fact.acknowledge_deadline)),
                Cell::text(district_time(o.fact.resolve_deadline)).flagged(o.overdue),
                Cell::text(if o.overdue { "已逾期" } else { "办理中" }).flagged(o.overdue),
            ]
        })
        .collect();
    let overdue = view.open.iter().filter(|o| o.overdue).count();
    let b = &view.bounce;
    let count = |n: u64, column: &str| Cell::count(n, cells_link(&period, "bounce", column, &view.unit));
    let bounce = vec![
        ("办结事项", count(b.resolved, "resolved")),
        ("首次派单即办结", count(b.resolved_on_first_assignment, "resolved_on_first_assignment")),
        ("首次派单即办结占比", Cell::number(pct(b.first_assignment_share, 1))),
        ("申请退回", count(b.returns_asked, "returns_asked")),
        ("退回获批", count(b.returns_approved, "returns_approved")),
        ("退回被驳回", count(b.returns_rejected, "returns_rejected")),
        ("错误退回", count(b.wrongful_returns, "wrongful_returns").flagged(b.wrongful_returns > 0)),
        ("错误退回耽误天数", Cell::number(format!("{:.1}", b.wrongful_days))),
        ("重办（次）", Cell::number(b.rehandlings.to_string())),
        ("派单时历史提示", count(b.history_warnings, "history_warnings")),
        ("提示后退回或转办", count(b.history_warnings_handed_on, "history_warnings_handed_on")),
    ];
    let targets = state.rest.reports.targets;
    let petition = view.petition.as_ref().map(|r| petition_cells(r, &period, &targets));
    let title = view.name.clone();
    html(
        UnitPage {
            frame: Frame::new(&user, title, period, &here),
            view,
            figures,
            chart,
            open,
            overdue,
            bounce,
            petition,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "console/bounces.html")]
struct BouncesPage {
    frame: Frame,
    flows: Flows,
    table: Table,
    most_moved: Vec<(String, String, String, usize)>,
    wrongful: Vec<(String, String, String)>,
}

pub async fn bounces(State(state): State<ConsoleState>, user: User, Asked { period, m, q, .. }: Asked) -> Response {
    let reports = &state.rest.reports;
    let (report, moves) =
        match (reports.bounce(&user.principal, m.from, m.to).await, reports.moves(&user.principal, m.from, m.to).await)
        {
            (Ok(r), Ok(mv)) => (r, mv),
            (Err(e), _) | (_, Err(e)) => return problem_page(&e),
        };
    let units = reports.units();
    let name = |code: &str| if code == "triage" { "待分拨".to_owned() } else { units.name(code) };
    let flows = charts::flows(
        moves
            .flows
            .iter()
            .map(|(a, b, n)| {
                let href = period
                    .link("/console/cells", &[("report", "moves"), ("column", "moved"), ("unit", a), ("next_unit", b)]);
                (name(a), name(b), *n, href)
            })
            .collect(),
        16,
    );
    let labels: &[&'static str] = &[
        "单位",
        "办结事项",
        "首次派单即办结",
        "占比",
        "申请退回",
        "获批",
        "被驳回",
        "错误退回",
        "耽误天数",
        "重办",
        "平均在他处天数",
        "历史提示",
        "提示后移交",
    ];
    let sort = sort_asked(&q, labels.len());
    let mut rows: Vec<Vec<Cell>> = report
        .units
        .iter()
        .map(|r| {
            let c = |n: u64, col: &str| Cell::count(n, cells_link(&period, "bounce", col, &r.unit));
            vec![
                Cell::text(r.name.clone()),
                c(r.resolved, "resolved"),
                c(r.resolved_on_first_assignment, "resolved_on_first_assignment"),
                Cell::number(pct(r.first_assignment_share, 1)),
                c(r.returns_asked, "returns_asked"),
                c(r.returns_approved, "returns_approved"),
                c(r.returns_rejected, "returns_rejected"),
                c(r.wrongful_returns, "wrongful_returns").flagged(r.wrongful_returns > 0),
                Cell::number(format!("{:.1}", r.wrongful_days)),
                Cell::number(r.rehandlings.to_string()),
                Cell::number(r.mean_days_elsewhere.map_or_else(|| "—".into(), |d| format!("{d:.1}"))),
                c(r.history_warnings, "history_warnings"),
                c(r.history_warnings_handed_on, "history_warnings_handed_on"),
            ]
        })
        .collect();
    if let Some((by, desc)) = sort {
        sort_rows(&mut rows, by, desc);
    }
    let table = Table {
        caption: "各单位流转与退回".into(),
        columns: columns(labels, &period, "/console/bounces", sort),
        sections: vec![(String::new(), rows)],
    };
    let most_moved = moves
        .most_moved
        .iter()
        .map(|(matter, case, path)| {
            (matter.clone(), case.clone(), path.iter().map(|u| name(u)).collect::<Vec<_>>().join(" → "), path.len())
        })
        .collect();
    let wrongful = moves.wrongful.iter().map(|(u, m, d)| (name(u), m.clone(), format!("{d:.1}"))).collect();
    html(
        BouncesPage {
            frame: Frame::new(&user, "流转与退回", period, "/console/bounces"),
            flows,
            table,
            most_moved,
            wrongful,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "console/bulletin.html")]
struct BulletinPage {
    frame: Frame,
    blocks: Vec<crate::bulletin::Block>,
    downloads: Vec<(String, &'static str)>,
}

pub async fn bulletin(State(state): State<ConsoleState>, user: User, Asked { period, m, .. }: Asked) -> Response {
    let blocks = match state.rest.reports.bulletin(&user.principal, m.from, m.to, m.as_of).await {
        Ok(b) => b,
        Err(e) => return problem_page(&e),
    };
    let downloads = vec![
        (period.link("/console/download/bulletin", &[("format", "docx")]), "Word（GB/T 9704版式）"),
        (period.link("/console/download/bulletin", &[("format", "html")]), "HTML"),
        (period.link("/console/download/bulletin", &[("format", "markdown")]), "Markdown"),
        (period.link("/console/download/workbook", &[]), "附件 XLSX"),
        (period.link("/console/download/attachment-1", &[("format", "csv")]), "附件1 CSV"),
        (period.link("/console/download/attachment-2", &[("format", "csv")]), "附件2 CSV"),
        (period.link("/console/download/attachment-3", &[("format", "csv")]), "附件3 CSV"),
    ];
    html(BulletinPage { frame: Frame::new(&user, "信访动态", period, "/console/bulletin"), blocks, downloads }.render())
}

/// A document in any format reporting renders, with the session's rights.
pub async fn download(
    State(state): State<ConsoleState>,
    user: User,
    Path(kind): Path<String>,
    Asked { m, q, .. }: Asked,
) -> Response {
    if !["attachment-1", "attachment-2", "attachment-3", "workbook", "bulletin"].contains(&kind.as_str()) {
        return page_error(StatusCode::NOT_FOUND, "没有这个文件", "可下载：附件1-3、附件工作簿、信访动态。");
    }
    let mut params = m.params;
    if let Some(f) = q.get("format") {
        params.insert("format".into(), f.clone());
    }
    match crate::rest::rendered(&state.rest, &user.principal, &params, &kind).await {
        Ok(res) => res,
        Err(e) => problem_page(&e),
    }
}

#[derive(Template)]
#[template(path = "console/reconciliation.html")]
struct ReconciliationPage {
    frame: Frame,
    error: Option<String>,
    result: Option<ReconciledView>,
}

/// The uploaded tables as they came, each flagged cell marked with its reasons.
pub struct ReconciledView {
    pub tables: Vec<String>,
    pub rows_read: usize,
    pub grid: Vec<Vec<(String, Vec<String>)>>,
    pub flagged: usize,
    pub unknown_units: Vec<String>,
}

pub async fn reconciliation_form(
    State(state): State<ConsoleState>,
    user: User,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let period = Period::from_query(&q, state.rest.clock.now());
    if !user.reads_reports() {
        return page_error(StatusCode::FORBIDDEN, "无权查看", "表格核对供效能办和管理员使用。");
    }
    html(
        ReconciliationPage {
            frame: Frame::new(&user, "表格核对", period, "/console/reconciliation"),
            error: None,
            result: None,
        }
        .render(),
    )
}

/// Reads the upload form: its fields and the file.
async fn upload_form(mut form: Multipart) -> Result<(HashMap<String, String>, Vec<u8>), String> {
    let bounds = crate::upload::Bounds::DEFAULT;
    let mut fields = HashMap::new();
    let mut file = Vec::new();
    while let Some(mut field) = form.next_field().await.map_err(|e| format!("上传内容无法读取：{e}"))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "table" {
            while let Some(chunk) = field.chunk().await.map_err(|e| format!("上传内容无法读取：{e}"))? {
                if file.len() + chunk.len() > bounds.body_bytes {
                    return Err(format!("文件超过上限（{} 字节）", bounds.body_bytes));
                }
                file.extend_from_slice(&chunk);
            }
        } else if ["csrf", "from", "to", "as_of"].contains(&name.as_str()) {
            let text = field.text().await.map_err(|e| format!("上传内容无法读取：{e}"))?;
            fields.insert(name, text.chars().take(100).collect());
        }
    }
    Ok((fields, file))
}

pub async fn reconcile(State(state): State<ConsoleState>, user: User, form: Multipart) -> Response {
    let now = state.rest.clock.now();
    let (fields, file) = match upload_form(form).await {
        Ok(f) => f,
        Err(e) => return page_error(StatusCode::UNPROCESSABLE_ENTITY, "上传失败", &e),
    };
    if !user.csrf_ok(fields.get("csrf").map(String::as_str)) {
        return super::csrf_refused();
    }
    let period = Period::from_query(&fields, now);
    let frame = Frame::new(&user, "表格核对", period.clone(), "/console/reconciliation");
    let render = |frame: Frame, error: Option<String>, result: Option<ReconciledView>| {
        let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
        let mut res = html(ReconciliationPage { frame, error, result }.render());
        *res.status_mut() = status;
        res
    };
    let m = match moments(&period, now) {
        Ok(m) => m,
        Err(e) => return problem_page(&e),
    };
    if let Err(e) = crate::Reports::authorize_reader(&user.principal) {
        return problem_page(&e);
    }
    let bounds = crate::upload::Bounds::DEFAULT;
    let rows = if file.starts_with(b"PK\x03\x04") {
        crate::upload::read_xlsx(&file, &bounds)
    } else {
        match std::str::from_utf8(&file) {
            Ok(text) => crate::upload::read_csv(text, &bounds),
            Err(_) => return render(frame, Some("CSV 文件须为 UTF-8 编码（XLSX 工作簿可直接上传）。".into()), None),
        }
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return render(frame, Some(format!("文件无法读取：{e}")), None),
    };
    let result = match state.rest.reports.reconcile(&user.principal, &rows, m.from, m.to, m.as_of).await {
        Ok(r) => r,
        Err(e) => return render(frame, Some(problem_text(&e)), None),
    };
    let view = reconciled_view(&rows, &result);
    render(frame, None, Some(view))
}

fn problem_text(p: &Problem) -> String {
    let mut s = p.detail.clone();
    for v in &p.violations {
        s.push_str(&format!("；{}：{}", v.field, v.description));
    }
    s
}

/// The upload's grid with each finding's reason on the cell it names: the row is found by its
/// table's data row number and the unit, the column by its header.
fn reconciled_view(rows: &[Vec<crate::reconcile::Cell>], r: &crate::reconcile::Reconciliation) -> ReconciledView {
    use crate::reconcile::Cell as C;
    let text = |c: &C| match c {
        C::Text(t) => t.clone(),
        C::Number(n) => {
            if n.fract() == 0.0 {
                format!("{n:.0}")
            } else {
                format!("{n}")
            }
        }
    };
    let mut grid: Vec<Vec<(String, Vec<String>)>> =
        rows.iter().map(|r| r.iter().map(|c| (text(c), Vec::new())).collect()).collect();
    let findings = r
        .self_contradictions
        .iter()
        .map(|f| (f, "表内矛盾"))
        .chain(r.differences_from_events.iter().map(|f| (f, "与系统数据不符")));
    let mut flagged = 0;
    for (f, what) in findings {
        // The row whose unit cell reads as printed, and the header row above it naming the column.
        let Some(ri) = grid.iter().position(|row| row.iter().any(|(t, _)| t.trim() == f.unit.trim())) else {
            continue;
        };
        let Some(ci) =
            grid[..ri].iter().rev().find_map(|row| row.iter().position(|(t, _)| t.trim() == f.column.trim()))
        else {
            continue;
        };
        if let Some(cell) = grid[ri].get_mut(ci) {
            cell.1.push(format!("{what}：表中 {}，应为 {}（{}）", f.printed, f.expected, f.rule));
            flagged += 1;
        }
    }
    ReconciledView {
        tables: r.tables.clone(),
        rows_read: r.rows_read,
        grid,
        flagged,
        unknown_units: r.unknown_units.clone(),
    }
}
