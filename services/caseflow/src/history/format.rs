//! The import format: JSON Lines, one event per line, each with the moment it happened (`at`,
//! RFC 3339 with offset) and its `type`. Documented in `docs/import-format.md`.
//!
//! Lines name things by the keys the old systems know: a case by its order or petition number
//! (`case`), a matter by its ordinal in the case (`matter`, from 1), a dispatch by the case, the
//! matter and the unit holding it, a leader reception by its reception number. The importer
//! turns them into Caseflow's ids as it goes.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// One line of an import file. (serde cannot deny unknown fields next to a flattened enum, so
/// `parse` checks them itself.)
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Line {
    /// When the event happened.
    pub at: DateTime<FixedOffset>,
    #[serde(flatten)]
    pub event: Event,
    /// A request the old system recorded as refused by this rule (e.g. `return.cap`): replayed,
    /// refused again for the same rule, and counted as applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_refusal: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Location {
    #[serde(default)]
    pub sub_district: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Citizen {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub hide_identity: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Matter {
    pub category: String,
    pub summary: String,
    /// The unit the matter goes to; empty lets routing decide (catalog, else triage).
    #[serde(default)]
    pub target_unit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub order_number: String,
    pub received_at: DateTime<FixedOffset>,
    /// phone | web | app | mini_program | merged_hotline
    pub channel: String,
    /// complaint | suggestion | inquiry | help_request
    pub kind: String,
    pub category: String,
    pub content: String,
    pub location: Location,
    pub citizen: Citizen,
    pub matters: Vec<Matter>,
    /// The number of an earlier case this one repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_case: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Petition {
    pub petition_number: String,
    pub received_at: DateTime<FixedOffset>,
    /// letter | visit | online_complaint | leader_mailbox
    pub channel: String,
    /// suggestion_opinion | request_decision | accusation | other
    pub purpose: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub accused_unit: String,
    pub category: String,
    pub content: String,
    pub location: Location,
    pub citizen: Citizen,
    pub matters: Vec<Matter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_batches: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_persons: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_signers: Option<i32>,
    #[serde(default)]
    pub single_visit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_case: Option<String>,
    /// The petition office's decision at registration; absent: accepted at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// The petition office's decision (信访工作条例 第二十二条), with its written notice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// pending (at registration only) | accepted | not_accepted | no_longer_accepted | forwarded
    pub outcome: String,
    /// not_accepted: litigation | arbitration | administrative_review | other_statutory
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub legal_channel: String,
    /// no_longer_accepted: the concluded case.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub concluded_case: String,
    /// forwarded: the body outside the district.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub forwarded_to: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notice: String,
}

/// The dispatch a unit action names: the case, the matter (from 1) and the unit holding it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(deny_unknown_fields)]
pub struct DispatchKey {
    pub case: String,
    #[serde(default = "first")]
    pub matter: u32,
    pub unit: String,
}

fn first() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub at: DateTime<FixedOffset>,
    /// phone | site_visit | sms | interview
    pub method: String,
    pub learned: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReceptionMatter {
    pub summary: String,
    /// solved_on_spot | resolved | in_progress
    pub outcome: String,
    /// The number of the case the matter was registered as, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
}

/// What happened. Each names the role that did it in Caseflow's terms (see the document).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The 12345 platform's work order (as the integrator).
    HotlineOrder { order: Order },
    /// A petition registered by the petition desk (as a dispatcher).
    Petition { petition: Petition },
    /// The petition office decided on a petition registered pending its decision (as a
    /// dispatcher), at the line's time.
    PetitionDecision { case: String, decision: Decision },
    /// A petitioner asked for 复查 (`review`) or 复核 (`re_review`) of a petition's answer (as a
    /// dispatcher), received at the line's time.
    ReviewRequest { case: String, level: String, reviewing_body: String, answer_received_at: DateTime<FixedOffset> },
    /// The reviewing body decided (as a dispatcher), at the line's time.
    ReviewDecision { case: String, level: String, outcome: String, opinion: String },
    /// The holding unit acknowledged (查阅) the dispatch.
    Acknowledge {
        #[serde(flatten)]
        dispatch: DispatchKey,
    },
    /// The unit reached the citizen or the site (落地).
    Land {
        #[serde(flatten)]
        dispatch: DispatchKey,
        method: String,
        #[serde(default)]
        note: String,
    },
    /// The unit's reply (答复).
    Reply {
        #[serde(flatten)]
        dispatch: DispatchKey,
        text: String,
    },
    /// A single-visit matter's 一事一分析.
    CaseAnalysis {
        #[serde(flatten)]
        dispatch: DispatchKey,
        text: String,
    },
    /// The dispatcher reviewed the reply: accepted, or sent back.
    Review {
        #[serde(flatten)]
        dispatch: DispatchKey,
        accept: bool,
        #[serde(default)]
        reason: String,
    },
    /// The dispatcher closed the matter (办结).
    Resolve {
        #[serde(flatten)]
        dispatch: DispatchKey,
    },
    /// The holding unit asked to return the dispatch.
    ReturnRequest {
        #[serde(flatten)]
        dispatch: DispatchKey,
        reason_code: String,
        reason: String,
        proposed_unit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        catalog_entry: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        legal_basis: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact: Option<Contact>,
    },
    /// The dispatcher decided the unit's pending return request.
    ReturnDecision {
        #[serde(flatten)]
        dispatch: DispatchKey,
        approve: bool,
        reason: String,
        /// Approving: the unit it goes to (the proposed one when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_unit: Option<String>,
    },
    /// The holding unit asked for more days.
    ExtensionRequest {
        #[serde(flatten)]
        dispatch: DispatchKey,
        days: i32,
        reason: String,
        progress: String,
    },
    /// The dispatcher decided the unit's pending extension request.
    ExtensionDecision {
        #[serde(flatten)]
        dispatch: DispatchKey,
        approve: bool,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        days: Option<i32>,
    },
    /// The dispatcher moved the dispatch to another unit.
    Transfer {
        #[serde(flatten)]
        dispatch: DispatchKey,
        to: String,
        reason: String,
        #[serde(default)]
        basis: String,
    },
    /// Arbitration: the dispatcher designated the unit of a matter.
    Designate {
        case: String,
        #[serde(default = "first")]
        matter: u32,
        unit: String,
        reason: String,
        basis: String,
    },
    /// The dispatcher assigned a matter waiting in triage.
    Assign {
        case: String,
        #[serde(default = "first")]
        matter: u32,
        unit: String,
        reason: String,
    },
    /// The citizen's rating: hotline by the platform, petition by the desk.
    /// A petition's parts are rated at their own times: `level` the petition office's (empty:
    /// not this time), `unit_levels` the handling units rated now.
    Rating {
        case: String,
        #[serde(default)]
        level: String,
        #[serde(default)]
        unit_levels: BTreeMap<String, String>,
    },
    /// The rating window closed unrated (超期未评): of the part named (`agency` or a unit's
    /// code), or of every part whose window has closed.
    Expiry {
        case: String,
        #[serde(default)]
        part: Option<String>,
    },
    /// After an unsatisfied rating: an explanation, or re-handling; of the part named, or of
    /// every part rated unsatisfied.
    FollowUp {
        case: String,
        outcome: String,
        note: String,
        #[serde(default)]
        part: Option<String>,
    },
    /// A leader received petitioners (领导接访).
    LeaderReception {
        reception_number: String,
        leader_name: String,
        leader_title: String,
        persons: i32,
        matters: Vec<ReceptionMatter>,
    },
    /// A reception matter's outcome changed.
    ReceptionOutcome { reception_number: String, ordinal: i32, outcome: String },
}

impl Event {
    /// The name of the line's type, for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::HotlineOrder { .. } => "hotline_order",
            Self::Petition { .. } => "petition",
            Self::PetitionDecision { .. } => "petition_decision",
            Self::ReviewRequest { .. } => "review_request",
            Self::ReviewDecision { .. } => "review_decision",
            Self::Acknowledge { .. } => "acknowledge",
            Self::Land { .. } => "land",
            Self::Reply { .. } => "reply",
            Self::CaseAnalysis { .. } => "case_analysis",
            Self::Review { .. } => "review",
            Self::Resolve { .. } => "resolve",
            Self::ReturnRequest { .. } => "return_request",
            Self::ReturnDecision { .. } => "return_decision",
            Self::ExtensionRequest { .. } => "extension_request",
            Self::ExtensionDecision { .. } => "extension_decision",
            Self::Transfer { .. } => "transfer",
            Self::Designate { .. } => "designate",
            Self::Assign { .. } => "assign",
            Self::Rating { .. } => "rating",
            Self::Expiry { .. } => "expiry",
            Self::FollowUp { .. } => "follow_up",
            Self::LeaderReception { .. } => "leader_reception",
            Self::ReceptionOutcome { .. } => "reception_outcome",
        }
    }
}

/// Parses one line, naming the field that is wrong: serde's message for a missing or
/// malformed one, and any field the line's type does not have.
pub fn parse(text: &str) -> Result<Line, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let line: Line = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let known = serde_json::to_value(&line).map_err(|e| e.to_string())?;
    if let (Some(given), Some(known)) = (value.as_object(), known.as_object())
        && let Some(unknown) = given.keys().find(|k| !known.contains_key(*k))
    {
        return Err(format!("unknown field `{unknown}` for type `{}`", line.event.kind()));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_action_names_its_dispatch_flat() {
        let line =
            parse(r#"{"at":"2020-03-02T09:30:00+08:00","type":"acknowledge","case":"GD2020001","unit":"chengguan"}"#)
                .expect("parses");
        assert_eq!(
            line.event,
            Event::Acknowledge {
                dispatch: DispatchKey { case: "GD2020001".into(), matter: 1, unit: "chengguan".into() }
            }
        );
        let back = serde_json::to_string(&line).expect("serializes");
        assert_eq!(parse(&back).expect("round trip"), line);
    }

    #[test]
    fn unknown_types_and_fields_are_named() {
        let err =
            parse(r#"{"at":"2020-03-02T09:30:00+08:00","type":"teleport","case":"x"}"#).expect_err("no such type");
        assert!(err.contains("teleport"), "{err}");
        let err = parse(r#"{"at":"2020-03-02T09:30:00+08:00","type":"expiry","case":"x","colour":"red"}"#)
            .expect_err("no such field");
        assert!(err.contains("colour"), "{err}");
        let err = parse(r#"{"at":"yesterday","type":"expiry","case":"x"}"#).expect_err("bad time");
        assert!(err.contains("at") || err.contains("input"), "{err}");
    }
}
