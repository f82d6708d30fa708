//! The citizen's rating page: what the one-time link (`/rate?t=…`) opens. A small page in
//! Chinese for a phone: the case's masked summary, the scale (for a petition, the petition
//! office and each handling unit), an optional comment, one button. It works without
//! JavaScript (a plain form POST), takes one rating (the token is spent by it), thanks the
//! citizen, and says plainly when a link is not valid or its window has closed.
//!
//! Pages come from askama templates (`templates/`), which escape every value by construction.

use std::collections::BTreeMap;

use askama::Template;
use caseflow_proto::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};

use crate::policy::PETITION_LEVELS;

/// The matters' summaries for the page, each long run of digits (a phone or ID number) masked
/// as intake masks phone numbers: the first three and last four kept, `****` between
/// (`crate` intake's `citizen::mask_phone`). Names in free text cannot be told apart reliably
/// and are left as the platform wrote them.
pub fn masked_summary(matters: &[pb::ReceivedMatter]) -> String {
    let joined = matters.iter().map(|m| m.summary.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("；");
    mask_numbers(&joined)
}

fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let n = run.chars().count();
        if n >= 7 {
            let chars: Vec<char> = run.chars().collect();
            out.extend(&chars[..3]);
            out.push_str("****");
            out.extend(&chars[n - 4..]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        // An ID number may end in X.
        if c.is_ascii_digit() || (c.eq_ignore_ascii_case(&'x') && !run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

const BUILTIN_UNITS: &str = include_str!("../../../deploy/policy/units.toml");

/// A unit's name from the registry routing and reporting use (`deploy/policy/units.toml`), or
/// its code when the registry does not know it.
pub fn unit_name(code: &str) -> String {
    static NAMES: std::sync::LazyLock<BTreeMap<String, String>> = std::sync::LazyLock::new(|| {
        #[derive(serde::Deserialize)]
        struct Unit {
            code: String,
            name: String,
        }
        #[derive(serde::Deserialize)]
        struct File {
            units: Vec<Unit>,
        }
        toml::from_str::<File>(BUILTIN_UNITS)
            .map(|f| f.units.into_iter().map(|u| (u.code, u.name)).collect())
            .unwrap_or_default()
    });
    NAMES.get(code).cloned().unwrap_or_else(|| code.to_owned())
}

/// One choice on a scale.
pub struct Choice {
    pub code: String,
    pub label: String,
}

/// A subject the citizen rates: the case itself (hotline), the petition office, or a unit.
pub struct Subject {
    /// The form field: `level`, or `unit.<code>`.
    pub field: String,
    pub title: String,
    pub choices: Vec<Choice>,
    /// The choice already picked (a form sent back with an error keeps it).
    pub picked: String,
}

/// What a valid link shows.
pub struct Form {
    pub source: String,
    pub received_on: NaiveDate,
    pub summary: String,
    pub window_ends: DateTime<Utc>,
    pub subjects: Vec<Subject>,
}

/// Why a link shows no form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Wrong, unknown or already used: the same answer for each, nothing to enumerate.
    NotValid,
    /// Its rating window has ended.
    Expired,
}

#[derive(Template)]
#[template(path = "rate.html")]
pub struct RatePage<'a> {
    pub token: &'a str,
    pub form: &'a Form,
    pub kind: &'a str,
    pub received: String,
    pub until: String,
    pub comment: &'a str,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "rate_message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

fn district_date(t: DateTime<Utc>) -> String {
    let d = t.with_timezone(&caseflow_runtime::clock::district_offset());
    d.format("%Y年%-m月%-d日 %H:%M").to_string()
}

impl Form {
    /// The page for this form; `values` are a form sent back with `errors`.
    pub fn page<'a>(&'a self, token: &'a str, comment: &'a str, errors: Vec<String>) -> Result<String, askama::Error> {
        RatePage {
            token,
            form: self,
            kind: if self.source == "petition" { "信访事项" } else { "12345热线诉求" },
            received: self.received_on.format("%Y年%-m月%-d日").to_string(),
            until: district_date(self.window_ends),
            comment,
            errors,
        }
        .render()
    }

    /// Keeps the choices a form sent back had.
    pub fn with_picked(mut self, values: &BTreeMap<String, String>) -> Self {
        for s in &mut self.subjects {
            s.picked = values.get(&s.field).cloned().unwrap_or_default();
        }
        self
    }
}

/// The scale for one subject.
pub fn scale(source: &str, hotline: &[crate::policy::ScaleLevel], agency_or_unit: bool) -> Vec<Choice> {
    if source == "petition" || agency_or_unit {
        let labels = ["满意", "基本满意", "不满意"];
        PETITION_LEVELS.iter().zip(labels).map(|(c, l)| Choice { code: (*c).to_owned(), label: l.to_owned() }).collect()
    } else {
        hotline.iter().map(|l| Choice { code: l.code.clone(), label: l.label.clone() }).collect()
    }
}

/// A refused field of the form in words a citizen reads.
pub fn explain(field: &str, form: &Form) -> String {
    if field == "comment" {
        return "意见建议不能超过500字。".to_owned();
    }
    let wanted = if field == "level" { "level".to_owned() } else { field.replacen("unit_levels.", "unit.", 1) };
    match form.subjects.iter().find(|s| s.field == wanted) {
        Some(s) => format!("请选择：{}", s.title),
        None => "请为每一项选择评价。".to_owned(),
    }
}

pub fn message(closed: Closed) -> Result<String, askama::Error> {
    let (title, message) = match closed {
        Closed::NotValid => ("链接无效", "此评价链接无效或已使用。每个链接只能评价一次；如需帮助，请拨打12345热线。"),
        Closed::Expired => ("评价已结束", "此事项的评价期已经结束，不能再评价。感谢您的关注。"),
    };
    MessagePage { title, message }.render()
}

pub fn thanks() -> Result<String, askama::Error> {
    MessagePage {
        title: "感谢您的评价", message: "您的评价已提交。感谢您对我们工作的监督与支持！"
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_and_id_numbers_in_a_summary_are_masked() {
        assert_eq!(mask_numbers("请回电13812345678谢谢"), "请回电138****5678谢谢");
        assert_eq!(mask_numbers("身份证35050319900101123X"), "身份证350****123X");
        assert_eq!(mask_numbers("3号楼502室漏水"), "3号楼502室漏水");
    }

    #[test]
    fn every_value_on_the_page_is_escaped() {
        let form = Form {
            source: "hotline".into(),
            received_on: NaiveDate::from_ymd_opt(2020, 3, 2).unwrap_or_default(),
            summary: "<script>alert(1)</script>".into(),
            window_ends: Utc::now(),
            subjects: vec![Subject {
                field: "level".into(),
                title: "办理结果".into(),
                choices: vec![Choice { code: "satisfied".into(), label: "满意".into() }],
                picked: String::new(),
            }],
        };
        let page = form.page("t\"><x", "", vec![]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!page.contains("<script>alert(1)"), "{page}");
        assert!(page.contains("script&#62;alert(1)"), "the text is there, escaped: {page}");
        assert!(!page.contains("t\"><x"), "{page}");
        assert!(!page.contains("<script"), "no script at all: the page works without JavaScript");
    }
}
