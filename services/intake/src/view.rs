//! A case as a caller may see it. Citizen data is masked (`138****1234`, `陈*红`); a hidden
//! identity shows nothing at all.

use serde::Serialize;

use crate::citizen::{CitizenVault, VaultError, mask_name, mask_phone};
use crate::store::{CaseRow, MatterRow};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CitizenView {
    pub name: Option<String>,
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

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CaseView {
    pub case_id: String,
    /// hotline | petition
    pub source: String,
    /// The platform's order number (hotline) or the petition system's number.
    pub external_ref: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub channel: String,
    pub kind: String,
    pub category: String,
    pub content: String,
    pub location: LocationView,
    pub citizen: CitizenView,
    pub matters: Vec<MatterView>,
}

impl CaseView {
    pub fn masked(
        case: CaseRow,
        matters: Vec<MatterRow>,
        vault: &CitizenVault,
    ) -> Result<Self, VaultError> {
        let reveal = |enc: &Option<String>,
                      mask: fn(&str) -> String|
         -> Result<Option<String>, VaultError> {
            if case.hide_identity {
                return Ok(None);
            }
            enc.as_deref()
                .map(|e| vault.decrypt(e).map(|v| mask(&v)))
                .transpose()
        };
        let citizen = CitizenView {
            name: reveal(&case.citizen_name_enc, mask_name)?,
            phone: reveal(&case.citizen_phone_enc, mask_phone)?,
            anonymous: case.anonymous,
            hide_identity: case.hide_identity,
        };
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
        })
    }
}
