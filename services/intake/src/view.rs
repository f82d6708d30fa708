//! A case as a caller may see it. Citizen data is masked (`138****1234`, `陈**`); a hidden
//! identity, and an accuser's identity shown to a unit, show nothing at all.

use serde::Serialize;

use crate::citizen::{CitizenVault, VaultError, mask_name, mask_phone};
use crate::store::{CaseRow, MatterRow};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CitizenView {
    /// Masked (`陈**`); absent when anonymous or hidden from this caller.
    pub name: Option<String>,
    /// Masked (`138****1234`); absent when anonymous or hidden from this caller.
    pub phone: Option<String>,
    pub anonymous: bool,
    pub hide_identity: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LocationView {
    pub sub_district: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MatterView {
    pub matter_id: String,
    pub ordinal: i32,
    pub category: String,
    pub summary: String,
    pub target_unit: Option<String>,
}

/// Petition-only facts.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PetitionView {
    /// suggestion_opinion | request_decision | accusation | other
    pub purpose: String,
    pub accused_unit: Option<String>,
    pub visit_batches: Option<i32>,
    pub visit_persons: Option<i32>,
    /// Five or more persons (集体访).
    pub collective: bool,
    pub joint_signers: Option<i32>,
    /// Admitted under 最多投一次.
    pub single_visit: bool,
    /// The petition office's decision (信访工作条例 第二十二条).
    pub decision: Option<crate::decisions::DecisionView>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CaseView {
    pub case_id: String,
    /// hotline | petition
    pub source: String,
    /// The platform's order number (hotline) or the petition system's number.
    pub external_ref: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub channel: String,
    /// Hotline kind; empty for petitions.
    pub kind: String,
    pub category: String,
    pub content: String,
    pub location: LocationView,
    pub citizen: CitizenView,
    pub matters: Vec<MatterView>,
    pub petition: Option<PetitionView>,
    /// First case (初件): no earlier case of the same person about the same matter.
    pub is_first: bool,
    /// The first case of the chain this case repeats.
    pub repeat_of: Option<String>,
    /// received | dispatched | in_triage; petitions also awaiting_decision | not_accepted |
    /// no_longer_accepted | forwarded
    pub status: String,
}

impl CaseView {
    /// The petition's decision in its view.
    pub fn with_decision(
        mut self,
        decision: Option<crate::store::DecisionRow>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        if let (Some(p), Some(d)) = (self.petition.as_mut(), decision) {
            p.decision = Some(crate::decisions::DecisionView::of(d, now));
        }
        self
    }
}

/// How much of the citizen a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Masked name and phone.
    Masked,
    /// Nothing of the citizen: a hidden identity, or an accuser seen by a unit.
    Hidden,
}

impl CaseView {
    pub fn build(
        case: CaseRow,
        matters: Vec<MatterRow>,
        vault: &CitizenVault,
        visibility: Visibility,
    ) -> Result<Self, VaultError> {
        let hidden = visibility == Visibility::Hidden || case.hide_identity;
        let show = |enc: &Option<String>, mask: fn(&str) -> String| -> Result<Option<String>, VaultError> {
            if hidden {
                return Ok(None);
            }
            enc.as_deref().map(|e| vault.decrypt(e).map(|v| mask(&v))).transpose()
        };
        let citizen = CitizenView {
            name: show(&case.citizen_name_enc, mask_name)?,
            phone: show(&case.citizen_phone_enc, mask_phone)?,
            anonymous: case.anonymous,
            hide_identity: case.hide_identity,
        };
        let petition = (case.source == "petition").then(|| PetitionView {
            purpose: case.purpose.clone(),
            accused_unit: case.accused_unit.clone(),
            visit_batches: case.visit_batches,
            visit_persons: case.visit_persons,
            collective: case.collective,
            joint_signers: case.joint_signers,
            single_visit: case.single_visit,
            decision: None,
        });
        Ok(Self {
            case_id: case.id,
            source: case.source,
            external_ref: case.external_ref,
            received_at: case.received_at.and_utc(),
            channel: case.channel,
            kind: case.kind,
            category: case.category,
            content: case.content,
            location: LocationView {
                sub_district: case.sub_district,
                address: case.address,
                lat: case.latitude,
                lon: case.longitude,
            },
            citizen,
            matters: matters
                .into_iter()
                .map(|m| MatterView {
                    matter_id: m.id,
                    ordinal: m.ordinal,
                    category: m.category,
                    summary: m.summary,
                    target_unit: m.target_unit,
                })
                .collect(),
            petition,
            is_first: case.is_first,
            repeat_of: case.repeat_of,
            status: case.status,
        })
    }
}
