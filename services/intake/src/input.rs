//! The wire shapes callers send: a 12345 work order and a petition. Enums travel as strings so
//! that validation reports every bad field in one answer (see `validate.rs`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Coordinates {
    /// WGS-84 latitude, -90..90 (inside the district's box where its policy gives one).
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// WGS-84 longitude, -180..180 (inside the district's box where its policy gives one).
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// Sub-district code, see GET /v1/taxonomy (`district.sub_districts`). Required.
    #[serde(default)]
    #[schema(required = true)]
    pub sub_district: String,
    /// Up to 200 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$")]
    pub address: String,
    #[serde(default)]
    pub coordinates: Option<Coordinates>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenInput {
    /// Required unless `anonymous`; up to 50 characters, no control characters.
    #[serde(default)]
    #[schema(
        max_length = 50,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// Required unless `anonymous`: a mainland mobile number (11 digits, 13-19) or a landline
    /// with its area code (10 to 12 digits from 0). Spaces, '-' and a +86 prefix are also read.
    #[serde(default)]
    #[schema(pattern = "^(1[3-9][0-9]{9}|0[0-9]{9,11})$")]
    pub phone: String,
    /// Resident ID number (GB 11643-1999), optional: 17 digits with a valid birth date at
    /// positions 7-14, then the ISO 7064 MOD 11-2 check character.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{10}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]$")]
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
    /// Up to 500 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub summary: String,
    /// Unit code the caller asks the matter to go to; routing decides when absent.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_.]{1,64}$")]
    pub target_unit: Option<String>,
}

/// A work order (工单) from the 12345 platform.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// The platform's order number; the idempotency key.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub order_number: String,
    /// When the platform received the order, RFC 3339 with offset; not before the district's
    /// first records, not after now.
    #[schema(format = DateTime)]
    pub received_at: String,
    /// phone | web | app | mini_program | merged_hotline
    #[schema(pattern = "^(phone|web|app|mini_program|merged_hotline)$")]
    pub channel: String,
    /// complaint | suggestion | inquiry | help_request
    #[schema(pattern = "^(complaint|suggestion|inquiry|help_request)$")]
    pub kind: String,
    /// Level-2 taxonomy code, e.g. `urban_management.cooking_fume`.
    pub category: String,
    /// Up to 4,000 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub content: String,
    pub location: LocationInput,
    pub citizen: CitizenInput,
    /// 1 to 10 matters (诉求事项); each becomes one dispatch.
    #[schema(min_items = 1, max_items = 10)]
    pub matters: Vec<MatterInput>,
    /// A case this one repeats, when the caller knows it.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-fA-F-]{1,64}$")]
    pub related_case_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitInput {
    /// Batches (批次) this visit counts as; usually 1.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "caseflow_runtime::whole::i32")]
    pub batches: i32,
    /// Persons (人次) who came. Five or more is a collective visit (集体访).
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "caseflow_runtime::whole::i32")]
    pub persons: i32,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JointLetterInput {
    /// How many signed the letter (联名信), at least 2.
    #[schema(minimum = 2, maximum = 100000)]
    #[serde(deserialize_with = "caseflow_runtime::whole::i32")]
    pub signers: i32,
}

/// A petition (信访件) from the provincial petition system or the petition desk.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PetitionInput {
    /// The petition system's number; the idempotency key.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub petition_number: String,
    /// When the petition was received, RFC 3339 with offset; not before the district's first
    /// records, not after now.
    #[schema(format = DateTime)]
    pub received_at: String,
    /// letter | visit | online_complaint | leader_mailbox
    #[schema(pattern = "^(letter|visit|online_complaint|leader_mailbox)$")]
    pub channel: String,
    /// suggestion_opinion (建议意见) | request_decision (求决) | accusation (揭发控告) | other
    #[schema(pattern = "^(suggestion_opinion|request_decision|accusation|other)$")]
    pub purpose: String,
    /// Required for an accusation, and only for one: the unit accused. The case never goes to
    /// it, so no matter may name it as `target_unit`.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_.]{1,64}$")]
    pub accused_unit: Option<String>,
    /// Level-2 taxonomy code.
    pub category: String,
    /// Up to 4,000 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub content: String,
    pub location: LocationInput,
    pub citizen: CitizenInput,
    /// 1 to 10 matters; each becomes one dispatch.
    #[schema(min_items = 1, max_items = 10)]
    pub matters: Vec<MatterInput>,
    /// Required for channel `visit`, and only for it.
    #[serde(default)]
    pub visit: Option<VisitInput>,
    /// For letters signed by several petitioners; only for channel `letter`.
    #[serde(default)]
    pub joint_letter: Option<JointLetterInput>,
    /// Admitted under 最多投一次 (at most one visit).
    #[serde(default)]
    pub single_visit: bool,
    /// A case this one repeats, when the caller knows it.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-fA-F-]{1,64}$")]
    pub related_case_id: Option<String>,
    /// The petition office's decision (信访工作条例 第二十二条). Absent: registered and
    /// accepted at once, its matters go to their units. `{"outcome": "pending"}` registers it
    /// for a decision within 15 days (POST /v1/petitions/{case_id}/decision).
    #[serde(default)]
    pub decision: Option<DecisionInput>,
}

/// The petition office's decision on a registered petition, with the written notice to the
/// petitioner (书面告知).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// accepted (受理: its matters go to the units with the power to handle them) |
    /// not_accepted (不予受理: a matter for a statutory channel) | no_longer_accepted (不再受理:
    /// the facts of a concluded review) | forwarded (转送: to a body outside the district) |
    /// pending (at registration only: decided later)
    #[schema(pattern = "^(pending|accepted|not_accepted|no_longer_accepted|forwarded)$")]
    pub outcome: String,
    /// not_accepted: litigation | arbitration | administrative_review | other_statutory
    #[serde(default)]
    #[schema(pattern = "^(litigation|arbitration|administrative_review|other_statutory)$")]
    pub legal_channel: Option<String>,
    /// no_longer_accepted: the concluded case (a case id or the review's reference).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub concluded_case: Option<String>,
    /// forwarded: the body outside the district, 2 to 100 characters, no control characters.
    #[serde(default)]
    #[schema(min_length = 2, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub forwarded_to: Option<String>,
    /// The written notice to the petitioner, 1 to 2,000 characters, no control characters but
    /// line breaks and tabs; required with every decision but pending.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$")]
    pub notice: Option<String>,
    /// A decision made after registration (POST /v1/petitions/{case_id}/decision): when, RFC 3339
    /// with offset, not before the registration and not after now (a replayed history gives
    /// it); now when absent. Not at registration: that decision is made when it is received.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
}
