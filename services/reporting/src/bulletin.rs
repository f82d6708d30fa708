//! The half-year bulletin (信访动态): the narrative document in the structure of the source
//! bulletin (`shared/domain/000_75e8fb351e9c560f.txt`), every figure filled from the reports.
//! The document is built once as blocks and rendered to Markdown and to HTML, so the two
//! always say the same thing.
//!
//! Sections, in the source's order: the opening totals; 一、the provincial petition system
//! ((一) letters and visits, (二) leader receptions, (三) the three rates and single-visit,
//! with what falls short, (四) requirements); 二、the 12345 platform (1 categories, 2 hot
//! topics, 3 handling, with what falls short, 4 self-inspection); the attachments 1-3.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike as _, Utc};

use crate::attachments::{Attachment1, Attachment2, Attachment3, HotlineRow, PetitionRow, RankRow, pct};
use crate::bounce::BounceReport;
use crate::summary::{Count, Summary};
use crate::units::Units;

const BUILTIN_DISTRICT: &str = include_str!("../../../deploy/policy/district.toml");

/// The district's name (鲤城区) from the district file.
pub fn district_name() -> String {
    #[derive(serde::Deserialize)]
    struct District {
        name: String,
    }
    toml::from_str::<toml::Value>(BUILTIN_DISTRICT)
        .ok()
        .and_then(|v| v.try_into::<District>().ok())
        .map_or_else(|| "本区".to_owned(), |d| d.name)
}

/// One piece of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Title(String),
    Heading(u8, String),
    Paragraph(String),
    Table { caption: String, header: Vec<String>, rows: Vec<Vec<String>>, note: String },
}

/// Everything the bulletin reports on, for one period.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub petition: &'a Summary,
    pub hotline: &'a Summary,
    pub a1: &'a Attachment1,
    pub a2: &'a Attachment2,
    pub a3: &'a Attachment3,
    pub bounce: &'a BounceReport,
    pub units: &'a Units,
}

/// "1-6月" and the year, from a period [from, to) in the district's time.
pub fn months(from: DateTime<Utc>, to: DateTime<Utc>) -> (i32, String) {
    let offset = caseflow_runtime::clock::district_offset();
    let f = from.with_timezone(&offset);
    let t = (to - chrono::Duration::seconds(1)).with_timezone(&offset);
    if f.year() == t.year() {
        let m = if f.month() == t.month() {
            format!("{}月", f.month())
        } else {
            format!("{}-{}月", f.month(), t.month())
        };
        (f.year(), m)
    } else {
        (f.year(), format!("{}年{}月至{}年{}月", f.year(), f.month(), t.year(), t.month()))
    }
}

/// The heading's name of a period ("2020年上半年") and the text's ("2020年1-6月"). A period
/// across two years names both years once: "2019年7月至2020年6月".
pub fn period_names(from: DateTime<Utc>, to: DateTime<Utc>) -> (String, String) {
    let (year, months) = months(from, to);
    if months.contains('年') {
        return (months.clone(), months);
    }
    let half = match months.as_str() {
        "1-6月" => format!("{year}年上半年"),
        "7-12月" => format!("{year}年下半年"),
        "1-12月" => format!("{year}年"),
        _ => format!("{year}年{months}"),
    };
    (half, format!("{year}年{months}"))
}

fn change(c: &Count) -> String {
    match caseflow_rates::Change::of(c.count, c.last_year) {
        Some(x) if x.is_zero() => "持平".to_owned(),
        Some(x) if x.is_decrease() => format!("下降{}%", x.magnitude()),
        Some(x) => format!("上升{}%", x.magnitude()),
        None => "去年同期无数据".to_owned(),
    }
}

/// "2.诉求热点": what grew against the period before, or, when that period recorded nothing,
/// what was raised most (a topic is not "up by N" over an empty period).
fn hot_topics_sentence(t: &crate::summary::HotTopics) -> String {
    let topic = |x: &crate::summary::Growth| match x.growth {
        Some(n) => format!("{}（{}件，较上期增加{n}件）", x.label, x.count),
        None => format!("{}（{}件）", x.label, x.count),
    };
    let listed = |g: &[crate::summary::Growth]| list_or_none(&g.iter().map(topic).collect::<Vec<_>>());
    let (categories, keywords) = (listed(&t.categories), listed(&t.keywords));
    if t.previous_cases > 0 {
        format!("2.诉求热点。与上期相比，增长最多的诉求是：{categories}；群众反映集中的关键词：{keywords}。")
    } else {
        format!("2.诉求热点。上期无数据可比，本期反映最多的诉求是：{categories}；群众反映集中的关键词：{keywords}。")
    }
}

fn channel<'a>(s: &'a Summary, key: &str) -> Option<&'a Count> {
    s.channels.iter().find(|c| c.key == key)
}

fn channel_sentence(s: &Summary, key: &str, label: &str, measure: &str) -> String {
    match channel(s, key) {
        Some(c) => format!("{label}{}{measure}，与去年同期{}{measure}相比，{}", c.count, c.last_year, change(c)),
        None => format!("{label}0{measure}"),
    }
}

fn rate(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}%"))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "无".to_owned() } else { items.join("、") }
}

fn names(units: &Units, codes: &[String], group: &str) -> Vec<String> {
    codes
        .iter()
        .filter(|c| (units.group(c) == "sub_district") == (group == "sub_district"))
        .map(|c| units.name(c))
        .collect()
}

/// What the petition office decided on the period's petitions, and the 复查 and 复核 asked.
fn decisions_sentence(months: &str, p: &Summary) -> String {
    let d = p.decisions.clone().unwrap_or_default();
    let not_accepted: u64 = d.not_accepted.iter().map(|c| c.count).sum();
    let channels: Vec<String> = d.not_accepted.iter().map(|c| format!("{}{}件", c.label, c.count)).collect();
    let mut out = format!(
        "{months}登记的信访事项中，受理{}件，不予受理{}件（{}），不再受理{}件，转送外区{}件，待决定{}件；逾期作出受理决定{}件。",
        d.accepted,
        not_accepted,
        list_or_none(&channels),
        d.no_longer_accepted,
        d.forwarded,
        d.pending,
        d.late
    );
    let r = p.reviews.clone().unwrap_or_default();
    for (name, n) in [("复查", &r.review), ("复核", &r.re_review)] {
        out.push_str(&format!(
            "申请{name}{}件，维持{}件、变更{}件、撤销{}件，尚在办理{}件，超期{}件；",
            n.requested, n.upheld, n.changed, n.revoked, n.pending, n.late
        ));
    }
    out.pop();
    out.push('。');
    out
}

/// The document's blocks.
pub fn blocks(i: &Inputs<'_>) -> Vec<Block> {
    let district = district_name();
    let (half, period) = period_names(i.from, i.to);
    let (_, months) = months(i.from, i.to);
    let (p, h) = (i.petition, i.hotline);
    let mut b = vec![
        Block::Title(format!("{district}信访动态")),
        Block::Heading(1, format!("{half}信访动态")),
        Block::Paragraph(format!(
            "{period}，国家、省、市、区四级信访局受理我区群众来信、来访、网上信访共{}件次，与去年同期{}件相比，{}；12345便民服务平台共受理群众诉求{}件，与上年同期{}件相比，{}，主要情况如下：",
            p.total.count,
            p.total.last_year,
            change(&p.total),
            h.total.count,
            h.total.last_year,
            change(&h.total)
        )),
        Block::Heading(2, "一、信访信息系统受理情况".into()),
        Block::Heading(3, "（一）来信来访".into()),
    ];

    // (一) letters and visits.
    let collective = p.collective_visits.clone().unwrap_or(crate::summary::CollectiveVisits { batches: 0, persons: 0 });
    let repeats: Vec<String> =
        p.repeat_petitioners.iter().take(5).map(|r| format!("{}{}件", r.name, r.petitions)).collect();
    let hot: Vec<String> = p.categories.iter().take(7).map(|c| format!("{}（{}件）", c.label, c.count)).collect();
    b.push(Block::Paragraph(format!(
        "{months}，全区共受理群众信访事项{}件次，与去年同期{}件相比，{}；其中{}；{}，集体访{}批{}人次；{}；{}；重复信访件集中在{}。信访诉求热点集中在：{}等领域。",
        p.total.count,
        p.total.last_year,
        change(&p.total),
        channel_sentence(p, "letter", "来信", "件"),
        channel_sentence(p, "visit", "来访", "批次"),
        collective.batches,
        collective.persons,
        channel_sentence(p, "online_complaint", "网上投诉", "件"),
        channel_sentence(p, "leader_mailbox", "领导信箱", "件"),
        list_or_none(&repeats),
        list_or_none(&hot),
    )));

    // The petition office's decisions (第二十二条) and the reviews (第三十五条, 第三十六条).
    b.push(Block::Paragraph(decisions_sentence(&months, p)));

    // (二) leader receptions.
    b.push(Block::Heading(3, "（二）领导接访".into()));
    let r = p.leader_receptions.clone().unwrap_or_default();
    b.push(Block::Paragraph(format!(
        "{months}，{district}党政主要领导接待群众来访{}批次{}人次，受理信访事项{}件，当场解决信访事项{}件，已化解{}件，正在化解{}件。",
        r.batches, r.persons, r.matters, r.solved_on_spot, r.resolved, r.in_progress
    )));

    // (三) the three rates and single-visit.
    b.push(Block::Heading(3, "（三）三率及最多投一次情况".into()));
    let agency = p.evaluation.agency.clone().unwrap_or_default();
    let units = p.evaluation.units.clone().unwrap_or_default();
    let sv = &p.single_visit;
    b.push(Block::Paragraph(format!(
        "{months}，信访机构群众参评率{}，满意率{}；有权处理机关群众参评率{}，满意率{}。全区初件纳入最多投一次{}件，占初件总数的{}，一次性办结率{}，平均办理天数{}天。",
        rate(agency.participation, 1),
        rate(agency.satisfaction, 1),
        rate(units.participation, 1),
        rate(units.satisfaction, 1),
        sv.admitted,
        rate(sv.share_of_first_cases, 1),
        rate(sv.first_time_resolution, 1),
        sv.average_days.map_or_else(|| "-".to_owned(), |d| format!("{d:.1}")),
    )));
    // The bulletin judges completion on the first petitions (初信初访件).
    let first = p.first_petitions.clone().unwrap_or_default();
    let late: Vec<String> =
        first.late_by_unit.iter().map(|l| format!("{}{}件", i.units.name(&l.unit), l.late)).collect();
    let a1 = i.a1;
    b.push(Block::Paragraph(format!(
        "存在不足：1.全区信访事项三率指标中，初信初访件的按期办结率{}，超期办结{}件（{}）；有权办理机关的参评率为{}（强基促稳指标为70%）、满意率为{}（强基促稳指标为85%）。参评率未达到要求的街道：{}；满意率未达到要求的街道：{}。参评率未达到要求的区直单位：{}；满意率未达到要求的区直单位：{}。（详见附件1）",
        rate(first.on_time_rate, 1),
        first.late_by_unit.iter().map(|l| l.late).sum::<u64>(),
        list_or_none(&late),
        rate(units.participation, 1),
        rate(units.satisfaction, 1),
        list_or_none(&names(i.units, &a1.below_participation_target, "sub_district")),
        list_or_none(&names(i.units, &a1.below_satisfaction_target, "sub_district")),
        list_or_none(&names(i.units, &a1.below_participation_target, "department")),
        list_or_none(&names(i.units, &a1.below_satisfaction_target, "department")),
    )));

    // (四) requirements, from the figures above.
    b.push(Block::Heading(3, "（四）工作要求".into()));
    b.push(Block::Paragraph(format!(
        "1.要重点落实“最多投一次”阳光信访机制。本期一次性办结率{}，纳入“最多投一次”的事项办结后须按要求新建“一事一分析”和“首办责任制”。",
        rate(sv.first_time_resolution, 1)
    )));
    b.push(Block::Paragraph(format!(
        "2.要高度重视满意度测评。参评率未达到要求的单位（{}）要引导问题已解决的信访人进行评价，确保参评率、满意率有大幅度提升。",
        list_or_none(&a1.below_participation_target.iter().map(|c| i.units.name(c)).collect::<Vec<_>>())
    )));
    b.push(Block::Paragraph(format!(
        "3.要狠抓重复信访依法治理工作。本期重复信访{}人，各承办单位要建立重复信访案例回头看、分析机制和上门恳谈机制，逐件推进化解。",
        p.repeat_petitioners.len()
    )));

    // 二、the 12345 platform.
    b.push(Block::Heading(2, "二、12345便民服务平台受理情况".into()));
    let kinds: Vec<String> = h.kinds.iter().map(|k| format!("{}类{}件", k.label, k.count)).collect();
    b.push(Block::Paragraph(format!(
        "{months}份12345平台共受理群众诉求{}件，其中{}。",
        h.total.count,
        list_or_none(&kinds)
    )));
    let top: Vec<String> =
        h.categories.iter().take(4).map(|c| format!("{}类{}件，占{}", c.label, c.count, rate(c.share, 2))).collect();
    b.push(Block::Paragraph(format!(
        "1.诉求分类。{months}份诉求件主要集中在以下{}类：{}。",
        top.len(),
        if top.is_empty() { "无".to_owned() } else { top.join("；") }
    )));
    b.push(Block::Paragraph(hot_topics_sentence(&h.hot_topics)));
    let overdue_view: u64 = i.a2.departments.iter().chain(&i.a2.sub_districts).map(|r| r.overdue_view).sum();
    let below: Vec<String> =
        i.a3.below_target
            .iter()
            .filter_map(|u| {
                i.a2.departments
                    .iter()
                    .chain(&i.a2.sub_districts)
                    .find(|r| &r.unit == u)
                    .map(|r| format!("{}{}", r.name, pct(r.satisfaction, 2)))
            })
            .collect();
    b.push(Block::Paragraph(format!(
        "3.办理情况。{months}份{}，群众评价不满意或差的为{}件，诉求件群众总体满意率为{}。群众满意率未达98%的承办单位有：{}。",
        if overdue_view == 0 { "未出现逾期查阅的情况".to_owned() } else { format!("出现逾期查阅{overdue_view}件") },
        h.evaluation.unsatisfied_cases.unwrap_or(0),
        rate(h.evaluation.overall_satisfaction, 2),
        list_or_none(&below),
    )));
    let overdue: Vec<String> =
        i.a2.departments
            .iter()
            .chain(&i.a2.sub_districts)
            .filter(|r| r.overdue_handling > 0)
            .map(|r| format!("{}{}件", r.name, r.overdue_handling))
            .collect();
    let bouncing: Vec<String> = i
        .bounce
        .units
        .iter()
        .filter(|u| u.wrongful_returns > 0)
        .map(|u| format!("{}不当退件{}件、延误{:.1}天", u.name, u.wrongful_returns, u.wrongful_days))
        .collect();
    b.push(Block::Paragraph(format!(
        "存在不足：一是逾期办理：{}。二是退件草率：{}。",
        list_or_none(&overdue),
        list_or_none(&bouncing)
    )));
    let late_h: Vec<String> = h.late_by_unit.iter().map(|l| format!("{}{}件", i.units.name(&l.unit), l.late)).collect();
    b.push(Block::Paragraph(format!(
        "4.自查整改。本期按期办结率{}，超期办结：{}。各承办单位须严格按照“及时受理、限时办结、准确回复、严格审核”要求办理；对群众不满意的诉求件，承办单位要分析原因，及时回访群众。",
        rate(h.on_time_rate, 1),
        list_or_none(&late_h)
    )));

    // The attachments.
    b.push(Block::Paragraph(format!(
        "附件：1.信访信息系统{months}办理情况统计表；2.12345平台{months}诉求件办理情况统计表；3.12345平台{months}满意率排名统计表"
    )));
    let range_note = {
        let offset = caseflow_runtime::clock::district_offset();
        let f = i.from.with_timezone(&offset);
        let t = (i.to - chrono::Duration::seconds(1)).with_timezone(&offset);
        format!("数据统计从{}年{}月{}日至{}年{}月{}日。", f.year(), f.month(), f.day(), t.year(), t.month(), t.day())
    };
    let dispatch_note = format!(
        "（1）数据统计口径为批转件数（比如群众1个诉求件内容反映2个问题，批转2个单位办理，统计表按2件计）；（2）{range_note}"
    );
    for (section, rows) in [("区直部门", &a1.departments), ("街道", &a1.sub_districts)] {
        b.push(Block::Table {
            caption: format!("附件1 信访信息系统{months}办理情况统计表（{section}）"),
            header: ["序号", "单位", "应评", "超期未评", "参评率", "满意", "基本满意", "不满意", "满意率"]
                .map(String::from)
                .to_vec(),
            rows: numbered(rows, PetitionRow::cells),
            note: format!("备注：{range_note}"),
        });
    }
    for (section, rows) in [("区直部门", &i.a2.departments), ("街道", &i.a2.sub_districts)] {
        b.push(Block::Table {
            caption: format!("附件2 12345平台{months}诉求件办理情况统计表（{section}）"),
            header: ["序号", "单位", "受理件数", "正在办理", "处理完毕", "逾期查阅", "逾期办理", "群众满意率"]
                .map(String::from)
                .to_vec(),
            rows: numbered(rows, HotlineRow::cells),
            note: format!("备注：{dispatch_note}"),
        });
    }
    for (section, rows) in [("区直部门", &i.a3.departments), ("街道", &i.a3.sub_districts)] {
        b.push(Block::Table {
            caption: format!("附件3 12345平台{months}满意率排名统计表（{section}）"),
            header: ["排名", "单位", "群众满意率", "受理总件数", "不满意件数"].map(String::from).to_vec(),
            rows: rows.iter().map(RankRow::cells).collect(),
            note: format!("备注：{dispatch_note}"),
        });
    }
    b
}

/// Rows as printed: their number (序号) from 1, then their cells.
fn numbered<R>(rows: &[R], cells: impl Fn(&R) -> Vec<String>) -> Vec<Vec<String>> {
    rows.iter().enumerate().map(|(n, r)| std::iter::once((n + 1).to_string()).chain(cells(r)).collect()).collect()
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

pub fn markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Title(t) => {
                let _ = writeln!(out, "# {t}\n");
            }
            Block::Heading(level, t) => {
                let _ = writeln!(out, "{} {t}\n", "#".repeat(usize::from(*level) + 1));
            }
            Block::Paragraph(t) => {
                let _ = writeln!(out, "{t}\n");
            }
            Block::Table { caption, header, rows, note } => {
                let _ = writeln!(out, "**{caption}**\n");
                let _ = writeln!(out, "| {} |", header.iter().map(|h| md_cell(h)).collect::<Vec<_>>().join(" | "));
                let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
                for row in rows {
                    let _ = writeln!(out, "| {} |", row.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
                }
                let _ = writeln!(out, "\n{note}\n");
            }
        }
    }
    out
}

#[derive(askama::Template)]
#[template(path = "bulletin.html")]
struct Page<'a> {
    title: &'a str,
    blocks: &'a [Block],
}

/// The bulletin as one HTML page (the same blocks the console's preview shows), escaped by the
/// template engine.
pub fn html(blocks: &[Block]) -> String {
    use askama::Template as _;
    let title =
        blocks.iter().find_map(|b| if let Block::Title(t) = b { Some(t.as_str()) } else { None }).unwrap_or("信访动态");
    let mut page = Page { title, blocks }
        .render()
        .unwrap_or_else(|e| format!("<!DOCTYPE html><p>bulletin could not be rendered: {e}</p>"));
    page.push('\n');
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn the_first_half_of_a_year_is_months_1_to_6() {
        let from = Utc.with_ymd_and_hms(2019, 12, 31, 16, 0, 0).single().expect("instant");
        let to = Utc.with_ymd_and_hms(2020, 6, 30, 16, 0, 0).single().expect("instant");
        assert_eq!(months(from, to), (2020, "1-6月".to_owned()));
    }

    #[test]
    fn a_period_names_its_year_once_even_across_two_years() {
        let at = |y, m| Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().expect("instant") - chrono::Duration::hours(8);
        assert_eq!(period_names(at(2020, 1), at(2020, 7)), ("2020年上半年".into(), "2020年1-6月".into()));
        assert_eq!(period_names(at(2020, 7), at(2021, 1)), ("2020年下半年".into(), "2020年7-12月".into()));
        assert_eq!(period_names(at(2020, 3), at(2020, 4)), ("2020年3月".into(), "2020年3月".into()));
        assert_eq!(
            period_names(at(2019, 7), at(2020, 7)),
            ("2019年7月至2020年6月".into(), "2019年7月至2020年6月".into()),
            "not 2019年2019年7月至2020年6月"
        );
    }

    #[test]
    fn hot_topics_over_an_empty_earlier_period_are_not_called_growth() {
        let topic = |growth: Option<i64>| crate::summary::Growth {
            key: "油烟".into(),
            label: "油烟".into(),
            count: 12,
            previous: growth.map(|g| 12 - u64::try_from(g).unwrap_or(0)),
            growth,
        };
        let mut t = crate::summary::HotTopics { keywords: vec![topic(None)], ..Default::default() };
        let first = hot_topics_sentence(&t);
        assert!(first.contains("上期无数据可比") && first.contains("油烟（12件）"), "{first}");
        assert!(!first.contains("增加"), "{first}");
        t.previous_cases = 30;
        t.keywords = vec![topic(Some(5))];
        let later = hot_topics_sentence(&t);
        assert!(later.contains("油烟（12件，较上期增加5件）"), "{later}");
    }

    #[test]
    fn small_changes_print_with_two_decimals() {
        let count = |count, last_year| crate::summary::Count { count, last_year, ..Default::default() };
        assert_eq!(change(&count(2577, 2575)), "上升0.08%");
        assert_eq!(change(&count(602, 614)), "下降2.0%");
        assert_eq!(change(&count(9, 9)), "持平");
        assert_eq!(change(&count(9, 0)), "去年同期无数据");
    }

    #[test]
    fn html_escapes_what_it_prints() {
        let out = html(&[Block::Paragraph("a<b & \"c\"".into())]);
        assert!(!out.contains("a<b"), "{out}");
        assert!(out.contains("<p>a&#60;b &#38; &#34;c&#34;</p>"), "{out}");
    }

    #[test]
    fn markdown_tables_escape_pipes() {
        let out = markdown(&[Block::Table {
            caption: "t".into(),
            header: vec!["a".into()],
            rows: vec![vec!["x|y".into()]],
            note: "n".into(),
        }]);
        assert!(out.contains("| x\\|y |"), "{out}");
    }
}
