//! The wire shapes callers send: a 12345 work order and a petition. Enums travel as strings so
//! that validation reports every bad field in one answer (see `validate.rs`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Coordinates {
    /// WGS-84 latitude, -90..90.
    pub lat: f64,
    /// WGS-84 longitude, -180..180.
    pub lon: f64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// Sub-district code, see GET /v1/taxonomy (`district.sub_districts`).
    #[serde(default)]
    pub sub_district: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub coordinates: Option<Coordinates>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    /// Resident ID number (GB 11643-1999), optional.
    #[serde(default)]
    pub id_number: Option<String>,
    /// The citizen gave no name or phone (匿名).
    #[serde(default)]
    pub anonymous: bool,
    /// The citizen asked that units not see who they are (保密).
    #[serde(default)]
    pub hide_identity: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatterInput {
    /// Level-2 taxonomy code.
    pub category: String,
    pub summary: String,
    /// Unit code the caller asks the matter to go to; routing decides when absent.
    #[serde(default)]
    pub target_unit: Option<String>,
}

/// A work order (工单) from the 12345 platform.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// The platform's order number; the idempotency key.
    pub order_number: String,
    /// When the platform received the order, RFC 3339 with offset.
    pub received_at: String,
    /// phone | web | app | mini_program | merged_hotline
    pub channel: String,
    /// complaint | suggestion | inquiry | help_request
    pub kind: String,
    /// Level-2 taxonomy code, e.g. `urban_management.cooking_fume`.
    pub category: String,
    /// Up to 4,000 characters.
    pub content: String,
    pub location: LocationInput,
    pub citizen: CitizenInput,
    /// 1 to 10 matters (诉求事项); each becomes one dispatch.
    pub matters: Vec<MatterInput>,
    /// A case this one repeats, when the caller knows it.
    #[serde(default)]
    pub related_case_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitInput {
    /// Batches (批次) this visit counts as; usually 1.
    pub batches: i32,
    /// Persons (人次) who came. Five or more is a collective visit (集体访).
    pub persons: i32,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JointLetterInput {
    /// How many signed the letter (联名信), at least 2.
    pub signers: i32,
}

/// A petition (信访件) from the provincial petition system or the petition desk.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PetitionInput {
    /// The petition system's number; the idempotency key.
    pub petition_number: String,
    /// When the petition was received, RFC 3339 with offset.
    pub received_at: String,
    /// letter | visit | online_complaint | leader_mailbox
    pub channel: String,
    /// suggestion_opinion (建议意见) | request_decision (求决) | accusation (揭发控告) | other
    pub purpose: String,
    /// Required for an accusation: the unit accused. The case never goes to it.
    #[serde(default)]
    pub accused_unit: Option<String>,
    pub category: String,
    pub content: String,
    pub location: LocationInput,
    pub citizen: CitizenInput,
    pub matters: Vec<MatterInput>,
    /// Required for channel `visit`.
    #[serde(default)]
    pub visit: Option<VisitInput>,
    /// For letters signed by several petitioners.
    #[serde(default)]
    pub joint_letter: Option<JointLetterInput>,
    /// Admitted under 最多投一次 (at most one visit).
    #[serde(default)]
    pub single_visit: bool,
    #[serde(default)]
    pub related_case_id: Option<String>,
}
