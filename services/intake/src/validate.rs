//! Validation: a wire input becomes a [`NewCase`], whose every value is known good, or every
//! [`FieldViolation`] at once. Each message names the field and the rule.

use std::collections::BTreeMap;

use caseflow_runtime::FieldViolation;
use caseflow_runtime::time::RecordBounds;
use chrono::{DateTime, Utc};

use crate::citizen::{CitizenVault, check_id_number, check_phone};
use crate::input::{CitizenInput, LocationInput, MatterInput, OrderInput, PetitionInput};
use crate::taxonomy::Policy;

/// Longest content a case may carry (characters, not bytes).
pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_MATTERS: usize = 10;
pub const MAX_SUMMARY_CHARS: usize = 500;
pub const MAX_ADDRESS_CHARS: usize = 200;
pub const MAX_NAME_CHARS: usize = 50;
/// Persons from which a visit is a collective visit (集体访): five or more, as the Fujian
/// petition statistics count them (source bulletin: "集体访0批0人次"; 信访工作 practice: 5人以上).
pub const COLLECTIVE_VISIT_PERSONS: i32 = 5;
/// Bounds that catch typing errors without refusing real cases.
pub const MAX_VISIT_PERSONS: i32 = 10_000;
pub const MAX_VISIT_BATCHES: i32 = 100;
pub const MAX_SIGNERS: i32 = 100_000;

pub const HOTLINE_CHANNELS: [&str; 5] = ["phone", "web", "app", "mini_program", "merged_hotline"];
pub const KINDS: [&str; 4] = ["complaint", "suggestion", "inquiry", "help_request"];
pub const PETITION_CHANNELS: [&str; 4] = ["letter", "visit", "online_complaint", "leader_mailbox"];
pub const PURPOSES: [&str; 4] = ["suggestion_opinion", "request_decision", "accusation", "other"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hotline,
    Petition,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hotline => "hotline",
            Self::Petition => "petition",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidCitizen {
    pub name: Option<String>,
    /// Normalized digits.
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub anonymous: bool,
    pub hide_identity: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidMatter {
    pub category: String,
    pub summary: String,
    pub target_unit: Option<String>,
}

/// A case whose every field passed its rules, from either source.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub source: Source,
    pub external_ref: String,
    pub received_at: DateTime<Utc>,
    pub channel: String,
    /// Hotline kind (投诉/建议/咨询/求助); empty for petitions.
    pub kind: String,
    /// Petition purpose (信访目的); empty for hotline orders.
    pub purpose: String,
    pub accused_unit: Option<String>,
    pub category: String,
    pub content: String,
    pub sub_district: String,
    pub address: String,
    pub coordinates: Option<(f64, f64)>,
    pub citizen: ValidCitizen,
    pub matters: Vec<ValidMatter>,
    pub visit_batches: Option<i32>,
    pub visit_persons: Option<i32>,
    pub joint_signers: Option<i32>,
    pub single_visit: bool,
    pub related_case_id: Option<String>,
    /// Petitions: the decision at registration (accepted when none was given).
    pub decision: Option<ValidDecision>,
}

/// A decision that passed its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDecision {
    pub outcome: String,
    pub legal_channel: Option<String>,
    pub concluded_case: Option<String>,
    pub forwarded_to: Option<String>,
    pub notice: String,
    /// A later decision's moment, when the caller gave one.
    pub decided_at: Option<DateTime<Utc>>,
}

pub const DECISION_OUTCOMES: [&str; 5] = ["pending", "accepted", "not_accepted", "no_longer_accepted", "forwarded"];
pub const LEGAL_CHANNELS: [&str; 4] = ["litigation", "arbitration", "administrative_review", "other_statutory"];

impl crate::input::DecisionInput {
    /// Checks the decision's rules as of `now`; `prefix` names the fields ("decision." inside a
    /// petition). At registration it may be pending and has no moment of its own.
    pub fn validate(
        &self,
        prefix: &str,
        at_registration: bool,
        now: DateTime<Utc>,
    ) -> Result<ValidDecision, Vec<FieldViolation>> {
        let mut c = Check::new();
        let field = |name: &str| format!("{prefix}{name}");
        let allowed: &[&str] = if at_registration { &DECISION_OUTCOMES } else { &DECISION_OUTCOMES[1..] };
        let outcome = c.one_of(&field("outcome"), &self.outcome, allowed);
        let only_for = |c: &mut Check, name: &str, value: &Option<String>, wanted: &str| {
            let given = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
            match (given, outcome == wanted) {
                (None, true) => {
                    c.fail(field(name), format!("is required when the outcome is {wanted}"));
                    None
                }
                (Some(_), false) => {
                    c.fail(field(name), format!("is only for the outcome {wanted}"));
                    None
                }
                (v, _) => v.map(str::to_owned),
            }
        };
        let legal_channel = only_for(&mut c, "legal_channel", &self.legal_channel, "not_accepted");
        if let Some(ch) = &legal_channel
            && !LEGAL_CHANNELS.contains(&ch.as_str())
        {
            c.fail(field("legal_channel"), format!("'{ch}' is not one of {}", LEGAL_CHANNELS.join(", ")));
        }
        let concluded_case = only_for(&mut c, "concluded_case", &self.concluded_case, "no_longer_accepted");
        if let Some(r) = &concluded_case {
            c.reference(&field("concluded_case"), r, "XF2019000123");
        }
        let forwarded_to = only_for(&mut c, "forwarded_to", &self.forwarded_to, "forwarded");
        if let Some(body) = &forwarded_to {
            let n = body.chars().count();
            if !(2..=100).contains(&n) || body.chars().any(char::is_control) {
                c.fail(field("forwarded_to"), "must be 2 to 100 characters, no control characters");
            }
        }
        let notice = self.notice.as_deref().unwrap_or_default();
        let notice = if outcome == "pending" {
            if !notice.trim().is_empty() {
                c.fail(field("notice"), "comes with the decision, not with a registration pending it");
            }
            String::new()
        } else {
            c.text(&field("notice"), notice, true, 2000)
        };
        let decided_at = match self.decided_at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(_) if at_registration => {
                c.fail(
                    field("decided_at"),
                    "is only for a decision after registration (at registration it is decided when received)",
                );
                None
            }
            Some(raw) => match DateTime::parse_from_rfc3339(raw) {
                Ok(t) if t.with_timezone(&Utc) > now => {
                    c.fail(field("decided_at"), "must not be in the future");
                    None
                }
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    c.fail(field("decided_at"), "must be RFC 3339 with offset, e.g. 2020-07-01T10:00:00+08:00");
                    None
                }
            },
        };
        if c.violations.is_empty() {
            Ok(ValidDecision { outcome, legal_channel, concluded_case, forwarded_to, notice, decided_at })
        } else {
            Err(c.violations)
        }
    }
}

impl NewCase {
    /// A visit of five persons or more.
    pub fn is_collective_visit(&self) -> bool {
        self.visit_persons.is_some_and(|p| p >= COLLECTIVE_VISIT_PERSONS)
    }
}

pub(crate) struct Check {
    pub violations: Vec<FieldViolation>,
}

impl Check {
    pub(crate) fn new() -> Self {
        Self { violations: Vec::new() }
    }

    pub fn fail(&mut self, field: impl Into<String>, rule: impl Into<String>) {
        self.violations.push(FieldViolation::new(field, rule));
    }

    pub(crate) fn text(&mut self, field: &str, value: &str, required: bool, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() {
            if required {
                self.fail(field, "is required");
            }
            return String::new();
        }
        let count = value.chars().count();
        if count > max {
            self.fail(field, format!("must be at most {max} characters (got {count})"));
        }
        if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
            self.fail(field, "must not contain control characters");
        }
        value.to_owned()
    }

    pub(crate) fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.fail(field, format!("is required; one of {}", allowed.join(", ")));
        } else if !allowed.contains(&value) {
            self.fail(field, format!("'{value}' is not one of {}", allowed.join(", ")));
        }
        value.to_owned()
    }

    fn reference(&mut self, field: &str, value: &str, example: &str) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.fail(field, "is required");
        } else if value.len() > 64 || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            self.fail(field, format!("must be 1-64 of A-Z, a-z, 0-9, '-' and '_' (e.g. {example})"));
        }
        value.to_owned()
    }

    /// An optional moment the caller states, RFC 3339 with offset, not after `now`.
    pub(crate) fn moment(&mut self, field: &str, raw: Option<&str>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
        match DateTime::parse_from_rfc3339(raw) {
            Ok(t) if t.with_timezone(&Utc) > now => {
                self.fail(field, "must not be in the future");
                None
            }
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.fail(field, "must be RFC 3339 with offset, e.g. 2020-07-01T10:00:00+08:00");
                None
            }
        }
    }

    fn received_at(&mut self, raw: &str, records: &RecordBounds, now: DateTime<Utc>) -> DateTime<Utc> {
        let raw = raw.trim();
        if raw.is_empty() {
            self.fail("received_at", "is required (RFC 3339, e.g. 2020-03-02T09:30:00+08:00)");
            return now;
        }
        match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                if let Err(v) = records.check("received_at", t, now) {
                    self.violations.push(v);
                }
                t
            }
            Err(_) => {
                self.fail("received_at", "must be an RFC 3339 timestamp with offset, e.g. 2020-03-02T09:30:00+08:00");
                now
            }
        }
    }

    fn category(&mut self, field: &str, value: &str, policy: &Policy) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.fail(field, "is required; see GET /v1/taxonomy");
        } else if let Err(rule) = policy.check_category(value) {
            self.fail(field, rule);
        }
        value.to_owned()
    }

    fn unit(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let unit = value.map(str::trim).filter(|u| !u.is_empty())?;
        let ok = unit.len() <= 64
            && unit.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !ok {
            self.fail(
                field,
                format!("'{unit}' is not a unit code (a-z, 0-9, '_' and '.'); see GET /v1/units on routing"),
            );
        }
        Some(unit.to_owned())
    }

    fn location(&mut self, input: &LocationInput, policy: &Policy) -> (String, String, Option<(f64, f64)>) {
        let sub_district = input.sub_district.trim().to_owned();
        if sub_district.is_empty() {
            self.fail("location.sub_district", "is required; see GET /v1/taxonomy");
        } else if let Err(rule) = policy.check_sub_district(&sub_district) {
            self.fail("location.sub_district", rule);
        }
        let address = self.text("location.address", &input.address, false, MAX_ADDRESS_CHARS);
        // WGS 84 degrees. NaN stands for a half of the pair that was not sent (gRPC's optional
        // fields; JSON has no NaN).
        let coordinates = input.coordinates.as_ref().map(|co| {
            let mut valid = true;
            for (field, value, limit, other) in [("lat", co.lat, 90.0, "lon"), ("lon", co.lon, 180.0, "lat")] {
                let field = format!("location.coordinates.{field}");
                if value.is_nan() {
                    self.fail(
                        field,
                        format!("is required with location.coordinates.{other}: coordinates come in pairs"),
                    );
                    valid = false;
                } else if !(-limit..=limit).contains(&value) {
                    self.fail(field, format!("must be between -{limit} and {limit} (WGS 84 degrees)"));
                    valid = false;
                }
            }
            if let Some(b) = policy.district.bounds.filter(|b| valid && !b.contains(co.lat, co.lon)) {
                self.fail(
                    "location.coordinates",
                    format!(
                        "must lie inside {} (latitude {} to {}, longitude {} to {})",
                        policy.district.name, b.south, b.north, b.west, b.east
                    ),
                );
            }
            (co.lat, co.lon)
        });
        (sub_district, address, coordinates)
    }

    fn citizen(&mut self, input: &CitizenInput) -> ValidCitizen {
        let name = self.text("citizen.name", &input.name, !input.anonymous, MAX_NAME_CHARS);
        let phone = if input.phone.trim().is_empty() {
            if !input.anonymous {
                self.fail("citizen.phone", "is required unless citizen.anonymous is true");
            }
            None
        } else {
            check_phone(input.phone.trim()).map_err(|rule| self.fail("citizen.phone", rule)).ok()
        };
        let id_number = input
            .id_number
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|raw| check_id_number(raw).map_err(|rule| self.fail("citizen.id_number", rule)).ok());
        ValidCitizen {
            name: Some(name).filter(|n| !n.is_empty()),
            phone,
            id_number,
            anonymous: input.anonymous,
            hide_identity: input.hide_identity,
        }
    }

    fn matters(&mut self, input: &[MatterInput], policy: &Policy) -> Vec<ValidMatter> {
        if input.is_empty() {
            self.fail("matters", "must list at least one matter");
        } else if input.len() > MAX_MATTERS {
            self.fail("matters", format!("must list at most {MAX_MATTERS} matters (got {})", input.len()));
        }
        input
            .iter()
            .enumerate()
            .map(|(i, m)| ValidMatter {
                category: self.category(&format!("matters[{i}].category"), &m.category, policy),
                summary: self.text(&format!("matters[{i}].summary"), &m.summary, true, MAX_SUMMARY_CHARS),
                target_unit: self.unit(&format!("matters[{i}].target_unit"), m.target_unit.as_deref()),
            })
            .collect()
    }

    fn related(&mut self, value: Option<&str>) -> Option<String> {
        let id = value.map(str::trim).filter(|v| !v.is_empty())?;
        if id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            self.fail("related_case_id", "must be a case id as returned by intake");
        }
        Some(id.to_owned())
    }

    fn finish(self, case: NewCase) -> Result<NewCase, Vec<FieldViolation>> {
        if self.violations.is_empty() { Ok(case) } else { Err(self.violations) }
    }
}

impl OrderInput {
    /// Checks every field of a work order against its rule, as of `now`.
    pub fn validate(
        &self,
        policy: &Policy,
        records: &RecordBounds,
        now: DateTime<Utc>,
    ) -> Result<NewCase, Vec<FieldViolation>> {
        let mut c = Check::new();
        let external_ref = c.reference("order_number", &self.order_number, "GD202003020001");
        let received_at = c.received_at(&self.received_at, records, now);
        let channel = c.one_of("channel", &self.channel, &HOTLINE_CHANNELS);
        let kind = c.one_of("kind", &self.kind, &KINDS);
        let category = c.category("category", &self.category, policy);
        let content = c.text("content", &self.content, true, MAX_CONTENT_CHARS);
        let (sub_district, address, coordinates) = c.location(&self.location, policy);
        let citizen = c.citizen(&self.citizen);
        let matters = c.matters(&self.matters, policy);
        let related_case_id = c.related(self.related_case_id.as_deref());
        c.finish(NewCase {
            source: Source::Hotline,
            external_ref,
            received_at,
            channel,
            kind,
            purpose: String::new(),
            accused_unit: None,
            category,
            content,
            sub_district,
            address,
            coordinates,
            citizen,
            matters,
            visit_batches: None,
            visit_persons: None,
            joint_signers: None,
            single_visit: false,
            related_case_id,
            decision: None,
        })
    }
}

impl PetitionInput {
    /// Checks every field of a petition against its rule, as of `now`.
    pub fn validate(
        &self,
        policy: &Policy,
        records: &RecordBounds,
        now: DateTime<Utc>,
    ) -> Result<NewCase, Vec<FieldViolation>> {
        let mut c = Check::new();
        let external_ref = c.reference("petition_number", &self.petition_number, "XF2020000123");
        let received_at = c.received_at(&self.received_at, records, now);
        let channel = c.one_of("channel", &self.channel, &PETITION_CHANNELS);
        let purpose = c.one_of("purpose", &self.purpose, &PURPOSES);
        let accused_unit = c.unit("accused_unit", self.accused_unit.as_deref());
        if purpose == "accusation" && accused_unit.is_none() {
            c.fail("accused_unit", "is required when purpose is accusation (揭发控告)");
        }
        if purpose != "accusation" && accused_unit.is_some() {
            c.fail("accused_unit", "is only for purpose accusation");
        }
        let category = c.category("category", &self.category, policy);
        let content = c.text("content", &self.content, true, MAX_CONTENT_CHARS);
        let (sub_district, address, coordinates) = c.location(&self.location, policy);
        let citizen = c.citizen(&self.citizen);
        let matters = c.matters(&self.matters, policy);
        if let Some(accused) = &accused_unit {
            for (i, m) in matters.iter().enumerate() {
                if m.target_unit.as_ref() == Some(accused) {
                    c.fail(
                        format!("matters[{i}].target_unit"),
                        "must not be the accused unit: an accusation never goes to the unit it accuses (信访工作条例 第三十条)",
                    );
                }
            }
        }
        let (visit_batches, visit_persons) = match (&self.visit, channel.as_str()) {
            (Some(v), "visit") => {
                if !(1..=MAX_VISIT_BATCHES).contains(&v.batches) {
                    c.fail("visit.batches", format!("must be 1 to {MAX_VISIT_BATCHES}"));
                }
                if !(1..=MAX_VISIT_PERSONS).contains(&v.persons) {
                    c.fail("visit.persons", format!("must be 1 to {MAX_VISIT_PERSONS}"));
                }
                (Some(v.batches), Some(v.persons))
            }
            (None, "visit") => {
                c.fail("visit", "is required for channel visit (batches and persons)");
                (None, None)
            }
            (Some(_), _) => {
                c.fail("visit", "is only for channel visit");
                (None, None)
            }
            (None, _) => (None, None),
        };
        let joint_signers = match &self.joint_letter {
            Some(j) if channel != "letter" => {
                c.fail("joint_letter", "is only for channel letter");
                Some(j.signers)
            }
            Some(j) => {
                if !(2..=MAX_SIGNERS).contains(&j.signers) {
                    c.fail(
                        "joint_letter.signers",
                        format!("must be 2 to {MAX_SIGNERS} (a joint letter has several signers)"),
                    );
                }
                Some(j.signers)
            }
            None => None,
        };
        let related_case_id = c.related(self.related_case_id.as_deref());
        let decision = match &self.decision {
            None => None,
            Some(d) => match d.validate("decision.", true, now) {
                Ok(v) => Some(v),
                Err(violations) => {
                    c.violations.extend(violations);
                    None
                }
            },
        };
        c.finish(NewCase {
            source: Source::Petition,
            external_ref,
            received_at,
            channel,
            kind: String::new(),
            purpose,
            accused_unit,
            category,
            content,
            sub_district,
            address,
            coordinates,
            citizen,
            matters,
            visit_batches,
            visit_persons,
            joint_signers,
            single_visit: self.single_visit,
            related_case_id,
            decision,
        })
    }
}

impl NewCase {
    /// Keyed digests of every field, to tell a resend from a changed case by field name
    /// without storing personal data in the clear.
    pub fn fingerprint(&self, vault: &CitizenVault) -> BTreeMap<String, String> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
        let mut fields: Vec<(String, String)> = vec![
            ("received_at".into(), self.received_at.to_rfc3339()),
            ("channel".into(), self.channel.clone()),
            ("kind".into(), self.kind.clone()),
            ("purpose".into(), self.purpose.clone()),
            ("accused_unit".into(), opt(&self.accused_unit)),
            ("category".into(), self.category.clone()),
            ("content".into(), self.content.clone()),
            ("location.sub_district".into(), self.sub_district.clone()),
            ("location.address".into(), self.address.clone()),
            ("location.coordinates".into(), format!("{:?}", self.coordinates)),
            ("citizen.name".into(), opt(&self.citizen.name)),
            ("citizen.phone".into(), opt(&self.citizen.phone)),
            ("citizen.id_number".into(), opt(&self.citizen.id_number)),
            ("citizen.anonymous".into(), self.citizen.anonymous.to_string()),
            ("citizen.hide_identity".into(), self.citizen.hide_identity.to_string()),
            ("matters".into(), self.matters.len().to_string()),
            ("visit.batches".into(), num(self.visit_batches)),
            ("visit.persons".into(), num(self.visit_persons)),
            ("joint_letter.signers".into(), num(self.joint_signers)),
            ("single_visit".into(), self.single_visit.to_string()),
            ("related_case_id".into(), opt(&self.related_case_id)),
        ];
        if let Some(d) = &self.decision {
            fields.push(("decision.outcome".into(), d.outcome.clone()));
            fields.push(("decision.legal_channel".into(), opt(&d.legal_channel)));
            fields.push(("decision.concluded_case".into(), opt(&d.concluded_case)));
            fields.push(("decision.forwarded_to".into(), opt(&d.forwarded_to)));
            fields.push(("decision.notice".into(), d.notice.clone()));
        }
        for (i, m) in self.matters.iter().enumerate() {
            fields.push((format!("matters[{i}].category"), m.category.clone()));
            fields.push((format!("matters[{i}].summary"), m.summary.clone()));
            fields.push((format!("matters[{i}].target_unit"), opt(&m.target_unit)));
        }
        fields
            .into_iter()
            .map(|(k, v)| {
                let digest = vault.fingerprint(&k, &v);
                (k, digest)
            })
            .collect()
    }
}

/// The fields whose digests differ, in a stable order.
pub fn differing_fields(stored: &BTreeMap<String, String>, incoming: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<&String> = stored.keys().chain(incoming.keys()).collect();
    keys.sort();
    keys.dedup();
    // An empty stored digest is a field a key rotation could not check: not compared.
    keys.into_iter()
        .filter(|k| stored.get(*k).is_none_or(|d| !d.is_empty()) && stored.get(*k) != incoming.get(*k))
        .cloned()
        .collect()
}
