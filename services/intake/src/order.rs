//! A hotline work order as the 12345 platform sends it, and its validation.
//!
//! [`OrderInput`] is the wire shape (REST JSON, and gRPC mapped into it), with enums as strings
//! so that every bad field is reported in one answer. [`OrderInput::validate`] returns a
//! [`ValidOrder`], whose values are known good, or every [`FieldViolation`] at once.

use std::collections::BTreeMap;

use caseflow_runtime::FieldViolation;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::citizen::{CitizenVault, check_id_number, check_phone};
use crate::taxonomy::Policy;

/// Longest content the platform may send (characters, not bytes).
pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_MATTERS: usize = 10;
pub const MAX_SUMMARY_CHARS: usize = 500;
pub const MAX_ADDRESS_CHARS: usize = 200;
pub const MAX_NAME_CHARS: usize = 50;
/// Clock skew tolerated on `received_at` before it counts as in the future.
pub const FUTURE_TOLERANCE_SECONDS: i64 = 60;

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
    pub category: String,
    pub summary: String,
    /// Unit code the platform asks the matter to go to; routing decides when absent.
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
    pub content: String,
    pub location: LocationInput,
    pub citizen: CitizenInput,
    pub matters: Vec<MatterInput>,
}

pub const CHANNELS: [&str; 5] = ["phone", "web", "app", "mini_program", "merged_hotline"];
pub const KINDS: [&str; 4] = ["complaint", "suggestion", "inquiry", "help_request"];

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

/// An order whose every field passed its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidOrder {
    pub order_number: String,
    pub received_at: DateTime<Utc>,
    pub channel: String,
    pub kind: String,
    pub category: String,
    pub content: String,
    pub sub_district: String,
    pub address: String,
    pub coordinates: Option<(f64, f64)>,
    pub citizen: ValidCitizen,
    pub matters: Vec<ValidMatter>,
}

struct Check {
    violations: Vec<FieldViolation>,
}

impl Check {
    fn fail(&mut self, field: impl Into<String>, rule: impl Into<String>) {
        self.violations.push(FieldViolation::new(field, rule));
    }

    fn text(&mut self, field: &str, value: &str, required: bool, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() {
            if required {
                self.fail(field, "is required");
            }
            return String::new();
        }
        let count = value.chars().count();
        if count > max {
            self.fail(
                field,
                format!("must be at most {max} characters (got {count})"),
            );
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.fail(field, "must not contain control characters");
        }
        value.to_owned()
    }

    fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) -> String {
        if value.is_empty() {
            self.fail(field, format!("is required; one of {}", allowed.join(", ")));
        } else if !allowed.contains(&value) {
            self.fail(
                field,
                format!("'{value}' is not one of {}", allowed.join(", ")),
            );
        }
        value.to_owned()
    }
}

fn unit_code_ok(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

impl OrderInput {
    /// Checks every field against its rule, as of `now`.
    pub fn validate(
        &self,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<ValidOrder, Vec<FieldViolation>> {
        let mut c = Check {
            violations: Vec::new(),
        };

        let order_number = self.order_number.trim().to_owned();
        if order_number.is_empty() {
            c.fail("order_number", "is required");
        } else if order_number.len() > 64
            || !order_number
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            c.fail("order_number", "must be 1-64 of A-Z, a-z, 0-9, '-' and '_'");
        }

        let received_at = if self.received_at.trim().is_empty() {
            c.fail(
                "received_at",
                "is required (RFC 3339, e.g. 2020-03-02T09:30:00+08:00)",
            );
            now
        } else {
            match DateTime::parse_from_rfc3339(self.received_at.trim()) {
                Ok(t) => {
                    let t = t.with_timezone(&Utc);
                    if t > now + Duration::seconds(FUTURE_TOLERANCE_SECONDS) {
                        c.fail(
                            "received_at",
                            format!("must not be in the future (now is {})", now.to_rfc3339()),
                        );
                    }
                    t
                }
                Err(_) => {
                    c.fail(
                        "received_at",
                        "must be an RFC 3339 timestamp with offset, e.g. 2020-03-02T09:30:00+08:00",
                    );
                    now
                }
            }
        };

        let channel = c.one_of("channel", self.channel.trim(), &CHANNELS);
        let kind = c.one_of("kind", self.kind.trim(), &KINDS);
        let category = self.category.trim().to_owned();
        if category.is_empty() {
            c.fail("category", "is required; see GET /v1/taxonomy");
        } else if let Err(rule) = policy.check_category(&category) {
            c.fail("category", rule);
        }
        let content = c.text("content", &self.content, true, MAX_CONTENT_CHARS);

        let sub_district = self.location.sub_district.trim().to_owned();
        if sub_district.is_empty() {
            c.fail("location.sub_district", "is required; see GET /v1/taxonomy");
        } else if let Err(rule) = policy.check_sub_district(&sub_district) {
            c.fail("location.sub_district", rule);
        }
        let address = c.text(
            "location.address",
            &self.location.address,
            false,
            MAX_ADDRESS_CHARS,
        );
        let coordinates = self.location.coordinates.as_ref().map(|co| {
            if !(-90.0..=90.0).contains(&co.lat) || co.lat.is_nan() {
                c.fail("location.coordinates.lat", "must be between -90 and 90");
            }
            if !(-180.0..=180.0).contains(&co.lon) || co.lon.is_nan() {
                c.fail("location.coordinates.lon", "must be between -180 and 180");
            }
            (co.lat, co.lon)
        });

        let citizen = self.validate_citizen(&mut c);

        if self.matters.is_empty() {
            c.fail("matters", "must list at least one matter");
        } else if self.matters.len() > MAX_MATTERS {
            c.fail(
                "matters",
                format!(
                    "must list at most {MAX_MATTERS} matters (got {})",
                    self.matters.len()
                ),
            );
        }
        let matters = self
            .matters
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let field = |name: &str| format!("matters[{i}].{name}");
                let category = m.category.trim().to_owned();
                if category.is_empty() {
                    c.fail(field("category"), "is required; see GET /v1/taxonomy");
                } else if let Err(rule) = policy.check_category(&category) {
                    c.fail(field("category"), rule);
                }
                let summary = c.text(&field("summary"), &m.summary, true, MAX_SUMMARY_CHARS);
                let target_unit = m.target_unit.as_deref().map(str::trim).filter(|u| !u.is_empty());
                if let Some(unit) = target_unit
                    && !unit_code_ok(unit)
                {
                    c.fail(field("target_unit"), format!("'{unit}' is not a unit code (a-z, 0-9, '_' and '.'); see GET /v1/units on routing"));
                }
                ValidMatter { category, summary, target_unit: target_unit.map(str::to_owned) }
            })
            .collect();

        if !c.violations.is_empty() {
            return Err(c.violations);
        }
        Ok(ValidOrder {
            order_number,
            received_at,
            channel,
            kind,
            category,
            content,
            sub_district,
            address,
            coordinates,
            citizen,
            matters,
        })
    }

    fn validate_citizen(&self, c: &mut Check) -> ValidCitizen {
        let input = &self.citizen;
        let name = c.text(
            "citizen.name",
            &input.name,
            !input.anonymous,
            MAX_NAME_CHARS,
        );
        let phone = if input.phone.trim().is_empty() {
            if !input.anonymous {
                c.fail(
                    "citizen.phone",
                    "is required unless citizen.anonymous is true",
                );
            }
            None
        } else {
            match check_phone(input.phone.trim()) {
                Ok(p) => Some(p),
                Err(rule) => {
                    c.fail("citizen.phone", rule);
                    None
                }
            }
        };
        let id_number = match input
            .id_number
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(raw) => match check_id_number(raw) {
                Ok(id) => Some(id),
                Err(rule) => {
                    c.fail("citizen.id_number", rule);
                    None
                }
            },
        };
        ValidCitizen {
            name: Some(name).filter(|n| !n.is_empty()),
            phone,
            id_number,
            anonymous: input.anonymous,
            hide_identity: input.hide_identity,
        }
    }
}

impl ValidOrder {
    /// Keyed digests of every field, to tell a resend from a changed order by field name
    /// without storing personal data in the clear.
    pub fn fingerprint(&self, vault: &CitizenVault) -> BTreeMap<String, String> {
        let mut fields: Vec<(String, String)> = vec![
            ("received_at".into(), self.received_at.to_rfc3339()),
            ("channel".into(), self.channel.clone()),
            ("kind".into(), self.kind.clone()),
            ("category".into(), self.category.clone()),
            ("content".into(), self.content.clone()),
            ("location.sub_district".into(), self.sub_district.clone()),
            ("location.address".into(), self.address.clone()),
            (
                "location.coordinates".into(),
                format!("{:?}", self.coordinates),
            ),
            (
                "citizen.name".into(),
                self.citizen.name.clone().unwrap_or_default(),
            ),
            (
                "citizen.phone".into(),
                self.citizen.phone.clone().unwrap_or_default(),
            ),
            (
                "citizen.id_number".into(),
                self.citizen.id_number.clone().unwrap_or_default(),
            ),
            (
                "citizen.anonymous".into(),
                self.citizen.anonymous.to_string(),
            ),
            (
                "citizen.hide_identity".into(),
                self.citizen.hide_identity.to_string(),
            ),
            ("matters".into(), self.matters.len().to_string()),
        ];
        for (i, m) in self.matters.iter().enumerate() {
            fields.push((format!("matters[{i}].category"), m.category.clone()));
            fields.push((format!("matters[{i}].summary"), m.summary.clone()));
            fields.push((
                format!("matters[{i}].target_unit"),
                m.target_unit.clone().unwrap_or_default(),
            ));
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
pub fn differing_fields(
    stored: &BTreeMap<String, String>,
    incoming: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut keys: Vec<&String> = stored.keys().chain(incoming.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| stored.get(*k) != incoming.get(*k))
        .cloned()
        .collect()
}
