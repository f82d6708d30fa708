//! One report rendered in one format: what the REST edge serves and gRPC `Report` returns, so
//! both edges give the same bytes.

use chrono::{DateTime, Utc};

use caseflow_runtime::{FieldViolation, Principal, Problem};

use crate::attachments::{Attachment1, Attachment2, Attachment3};
use crate::reports::Reports;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attachment1,
    Attachment2,
    Attachment3,
    Summary,
    Bounce,
    Bulletin,
    Workbook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
    Html,
    Xlsx,
    Docx,
}

/// A section of the unit tables: 区直部门 (departments, enterprises, the platform) or 街道.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Department,
    SubDistrict,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub kind: Kind,
    pub format: Format,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    /// hotline | petition, for the summary.
    pub source: String,
    pub group: Option<Group>,
    /// Summary, administrators only: reveal the repeat petitioners' names, logged with this reason.
    pub reveal_reason: Option<String>,
    /// The DOCX bulletin's masthead, where the request sets it.
    pub masthead: MastheadParams,
}

/// What a request may set of the DOCX bulletin's masthead; the rest comes from the
/// deployment's `[reporting.bulletin]` and the report's as-of date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MastheadParams {
    /// 发文机关, instead of the configured one.
    pub issuer: Option<String>,
    /// 发文字号 or the bulletin's issue: "（二十二）", "鲤信〔2020〕5号".
    pub number: Option<String>,
    /// 成文日期; the as-of moment's district date when absent.
    pub date: Option<chrono::NaiveDate>,
}

impl MastheadParams {
    /// Reads `issuer`, `number` and `date`, naming each bad one.
    pub fn parse(issuer: Option<&str>, number: Option<&str>, date: Option<&str>) -> Result<Self, Vec<FieldViolation>> {
        let mut errors = Vec::new();
        let mut text = |field: &str, value: Option<&str>, max: usize| -> Option<String> {
            let v = value.map(str::trim).filter(|v| !v.is_empty())?;
            if v.chars().count() > max {
                errors.push(FieldViolation::new(field, format!("at most {max} characters")));
                return None;
            }
            if v.chars().any(char::is_control) {
                errors.push(FieldViolation::new(field, "must not hold control characters"));
                return None;
            }
            Some(v.to_owned())
        };
        let issuer = text("issuer", issuer, 100);
        let number = text("number", number, 40);
        let date = match date.map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.push(FieldViolation::new("date", format!("'{d}' is not a date YYYY-MM-DD")));
                    None
                }
            },
        };
        if errors.is_empty() { Ok(Self { issuer, number, date }) } else { Err(errors) }
    }
}

impl Kind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "attachment-1" => Self::Attachment1,
            "attachment-2" => Self::Attachment2,
            "attachment-3" => Self::Attachment3,
            "summary" => Self::Summary,
            "bounce" => Self::Bounce,
            "bulletin" => Self::Bulletin,
            "workbook" => Self::Workbook,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Attachment1 => "attachment-1",
            Self::Attachment2 => "attachment-2",
            Self::Attachment3 => "attachment-3",
            Self::Summary => "summary",
            Self::Bounce => "bounce",
            Self::Bulletin => "bulletin",
            Self::Workbook => "workbook",
        }
    }

    /// The formats it comes in, the default first.
    fn formats(self) -> &'static [(&'static str, Format)] {
        match self {
            Self::Attachment1 | Self::Attachment2 | Self::Attachment3 => {
                &[("json", Format::Json), ("csv", Format::Csv)]
            }
            Self::Summary | Self::Bounce => &[("json", Format::Json)],
            Self::Bulletin => &[
                ("markdown", Format::Markdown),
                ("md", Format::Markdown),
                ("html", Format::Html),
                ("docx", Format::Docx),
            ],
            Self::Workbook => &[("xlsx", Format::Xlsx)],
        }
    }
}

/// Checks the textual parameters together, naming each bad field.
pub fn parse(
    kind: &str,
    format: Option<&str>,
    group: Option<&str>,
    source: Option<&str>,
) -> Result<(Kind, Format, Option<Group>, String), Problem> {
    let mut errors = Vec::new();
    let parsed_kind = Kind::parse(kind);
    if parsed_kind.is_none() {
        errors.push(FieldViolation::new(
            "report",
            format!(
                "'{kind}' is not one of attachment-1, attachment-2, attachment-3, summary, bounce, bulletin, workbook"
            ),
        ));
    }
    let format = parsed_kind.and_then(|k| {
        let formats = k.formats();
        match format.filter(|f| !f.is_empty()) {
            None => Some(formats[0].1),
            Some(f) => formats.iter().find(|(name, _)| *name == f).map(|(_, v)| *v).or_else(|| {
                let names: Vec<&str> = formats.iter().map(|(n, _)| *n).collect();
                errors.push(FieldViolation::new(
                    "format",
                    format!("'{f}' is not one of {} for {}", names.join(", "), k.name()),
                ));
                None
            }),
        }
    });
    let group = match group.filter(|g| !g.is_empty()) {
        None => None,
        Some("department") => Some(Group::Department),
        Some("sub_district") => Some(Group::SubDistrict),
        Some(other) => {
            errors.push(FieldViolation::new("group", format!("'{other}' is not one of department, sub_district")));
            None
        }
    };
    let source = match source.filter(|s| !s.is_empty()) {
        None => "hotline".to_owned(),
        Some(s @ ("hotline" | "petition")) => s.to_owned(),
        Some(other) => {
            errors.push(FieldViolation::new("source", format!("'{other}' is not one of hotline, petition")));
            String::new()
        }
    };
    match (parsed_kind, format) {
        (Some(k), Some(f)) if errors.is_empty() => Ok((k, f, group, source)),
        _ => Err(Problem::invalid(errors)),
    }
}

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Document {
    pub content_type: &'static str,
    pub filename: String,
    pub body: Vec<u8>,
}

fn json<T: serde::Serialize>(name: &str, value: &T) -> Result<Document, Problem> {
    Ok(Document {
        content_type: "application/json",
        filename: format!("{name}.json"),
        body: serde_json::to_vec(value).map_err(|e| Problem::internal(&e))?,
    })
}

fn csv(name: &str, body: String) -> Document {
    Document { content_type: "text/csv; charset=utf-8", filename: format!("{name}.csv"), body: body.into_bytes() }
}

fn keep<T>(rows: &mut Vec<T>, keep: bool) {
    if !keep {
        rows.clear();
    }
}

fn sections(group: Option<Group>) -> (bool, bool) {
    (group != Some(Group::SubDistrict), group != Some(Group::Department))
}

impl Attachment1 {
    pub fn only(mut self, group: Option<Group>) -> Self {
        let (d, s) = sections(group);
        keep(&mut self.departments, d);
        keep(&mut self.sub_districts, s);
        self
    }
}

impl Attachment2 {
    pub fn only(mut self, group: Option<Group>) -> Self {
        let (d, s) = sections(group);
        keep(&mut self.departments, d);
        keep(&mut self.sub_districts, s);
        self
    }
}

impl Attachment3 {
    pub fn only(mut self, group: Option<Group>) -> Self {
        let (d, s) = sections(group);
        keep(&mut self.departments, d);
        keep(&mut self.sub_districts, s);
        self
    }
}

impl Reports {
    pub async fn document(&self, p: &Principal, q: &Query) -> Result<Document, Problem> {
        let name = q.kind.name();
        match (q.kind, q.format) {
            (Kind::Attachment1, f) => {
                let a = self.attachment_1(p, q.from, q.to, q.as_of).await?.only(q.group);
                if f == Format::Csv { Ok(csv(name, a.to_csv())) } else { json(name, &a) }
            }
            (Kind::Attachment2, f) => {
                let a = self.attachment_2(p, q.from, q.to, q.as_of).await?.only(q.group);
                if f == Format::Csv { Ok(csv(name, a.to_csv())) } else { json(name, &a) }
            }
            (Kind::Attachment3, f) => {
                let a = self.attachment_3(p, q.from, q.to, q.as_of).await?.only(q.group);
                if f == Format::Csv { Ok(csv(name, a.to_csv())) } else { json(name, &a) }
            }
            (Kind::Summary, _) => {
                let mut s = self.summary(p, q.source.clone(), q.from, q.to, q.as_of).await?;
                if let Some(reason) = q.reveal_reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    self.reveal_repeat_petitioners(p, &mut s, reason).await?;
                }
                json(name, &s)
            }
            (Kind::Bounce, _) => {
                let mut b = self.bounce(p, q.from, q.to).await?;
                let units = self.units();
                if let Some(g) = q.group {
                    b.units.retain(|r| (units.group(&r.unit) == "sub_district") == (g == Group::SubDistrict));
                }
                json(name, &b)
            }
            (Kind::Bulletin, f) => {
                let blocks = self.bulletin(p, q.from, q.to, q.as_of).await?;
                Ok(if f == Format::Docx {
                    let masthead = crate::docx::Masthead {
                        mark: self.bulletin.mark.clone(),
                        issuer: q.masthead.issuer.clone().unwrap_or_else(|| self.bulletin.issuer.clone()),
                        number: q.masthead.number.clone(),
                        date: q.masthead.date.unwrap_or_else(|| crate::rollup::district_day(q.as_of.naive_utc())),
                    };
                    Document {
                        content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        filename: "bulletin.docx".into(),
                        body: crate::docx::render(&blocks, &masthead).map_err(|e| Problem::internal(&e))?,
                    }
                } else if f == Format::Html {
                    Document {
                        content_type: "text/html; charset=utf-8",
                        filename: "bulletin.html".into(),
                        body: crate::bulletin::html(&blocks).into_bytes(),
                    }
                } else {
                    Document {
                        content_type: "text/markdown; charset=utf-8",
                        filename: "bulletin.md".into(),
                        body: crate::bulletin::markdown(&blocks).into_bytes(),
                    }
                })
            }
            (Kind::Workbook, _) => Ok(Document {
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                filename: "attachments.xlsx".into(),
                body: self.workbook(p, q.from, q.to, q.as_of).await?,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_parameter_is_named_together() {
        let err = parse("attachment-2", Some("pdf"), Some("street"), Some("mail")).expect_err("three bad fields");
        let text = format!("{err:?}");
        for field in ["format", "group", "source"] {
            assert!(text.contains(field), "{field} named: {text}");
        }
        assert!(parse("ranking", None, None, None).is_err());
    }

    #[test]
    fn each_report_has_its_default_format() {
        assert_eq!(parse("bulletin", None, None, None).map(|p| p.1).ok(), Some(Format::Markdown));
        assert_eq!(parse("attachment-1", Some("csv"), None, None).map(|p| p.1).ok(), Some(Format::Csv));
        assert_eq!(parse("workbook", None, Some("department"), None).map(|p| p.2).ok(), Some(Some(Group::Department)));
        assert!(parse("summary", Some("csv"), None, None).is_err(), "the summary is JSON only");
    }
}
