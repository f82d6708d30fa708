//! Request bodies of routing's actions, shared by REST and gRPC.

use serde::{Deserialize, Serialize};

use crate::lifecycle::ContactRecord;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LandInput {
    /// When the citizen was contacted or the site visited, RFC 3339.
    pub at: String,
    /// phone | site_visit | in_person | sms
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
    pub days: i32,
    pub reason: String,
    /// Progress so far (阶段性答复).
    pub progress: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// true accepts the reply; false sends it back for re-handling (重办).
    pub accept: bool,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub approve: bool,
    pub reason: String,
    /// For a return: the unit to dispatch to instead of the proposed one.
    #[serde(default)]
    pub unit: Option<String>,
    /// For an extension: days granted, at most those asked.
    #[serde(default)]
    pub days: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitChoice {
    pub unit: String,
    pub reason: String,
    /// The legal basis or catalog entry (required for a designation).
    #[serde(default)]
    pub basis: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitSuccession {
    /// merged | abolished
    pub status: String,
    pub successor: String,
    pub reason: String,
}
