//! Request bodies of routing's actions, shared by REST and gRPC.

use serde::{Deserialize, Serialize};

use crate::lifecycle::ContactRecord;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LandInput {
    /// When the citizen was contacted or the site visited, RFC 3339; between the dispatch and
    /// now.
    #[schema(format = DateTime)]
    pub at: String,
    /// phone | site_visit | in_person | sms
    #[schema(pattern = "^(phone|site_visit|in_person|sms)$")]
    pub method: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextInput {
    /// The reply, the analysis or the reason, as the action needs.
    pub text: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnInput {
    /// One of the policy's reason codes (not_our_duty, wrong_sub_district, ...).
    #[serde(default)]
    pub reason_code: String,
    #[serde(default)]
    pub reason: String,
    /// The unit believed responsible.
    #[serde(default)]
    pub proposed_unit: String,
    /// The catalog entry naming the proposed unit, or else `legal_basis`.
    #[serde(default)]
    pub catalog_entry: Option<String>,
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// Required unless the case is anonymous.
    #[serde(default)]
    pub contact: Option<ContactRecord>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionInput {
    /// Days asked, 1 to the matter's cap.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "caseflow_runtime::whole::i32")]
    pub days: i32,
    /// 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
    /// Progress so far (阶段性答复), 1 to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub progress: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// true accepts the reply; false sends it back for re-handling (重办).
    pub accept: bool,
    /// Up to 1,000 characters; required (with a visible character) when `accept` is false.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub approve: bool,
    /// 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
    /// For a return: the unit to dispatch to instead of the proposed one.
    #[serde(default)]
    pub unit: Option<String>,
    /// For an extension: days granted, at most those asked.
    #[serde(default, deserialize_with = "caseflow_runtime::whole::option_i32")]
    pub days: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitChoice {
    /// The unit's code, see GET /v1/units.
    pub unit: String,
    /// 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
    /// The legal basis or catalog entry, up to 1,000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub basis: String,
}

/// A designation (指定): a unit choice whose legal basis or catalog entry is required. The
/// same wire shape as [`UnitChoice`], for the OpenAPI document.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Designation {
    /// The unit's code, see GET /v1/units.
    unit: String,
    /// 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    reason: String,
    /// The legal basis or catalog entry that makes it this unit's duty, 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    basis: String,
}

/// A reply or a case analysis (`text`, 1 to 4,000 characters). The same wire shape as
/// [`TextInput`], for the OpenAPI document.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LongText {
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    text: String,
}

/// A supervision note or a re-handling reason (`text`, 1 to 1,000 characters). The same wire
/// shape as [`TextInput`], for the OpenAPI document.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ShortText {
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    text: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitSuccession {
    /// merged | abolished
    #[schema(pattern = "^(merged|abolished)$")]
    pub status: String,
    /// The active unit that takes over (another unit).
    pub successor: String,
    /// 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
}
