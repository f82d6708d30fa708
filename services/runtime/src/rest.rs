//! REST edge helpers: the authenticated principal, and a JSON body extractor that refuses
//! invalid UTF-8, wrong content types and oversized bodies before parsing, and names the field
//! of a parse error.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::{KeyStore, Principal};
use crate::error::{ErrorKind, Problem};

/// The caller, authenticated from `Authorization: Bearer` or `x-api-key`; 401 otherwise.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl<S> FromRequestParts<S> for Authenticated
where
    KeyStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        KeyStore::from_ref(state).authenticate_headers(&parts.headers).map(Authenticated)
    }
}

/// A JSON body, checked in order: content type, size (the router's body limit), UTF-8, syntax,
/// then shape. Each failure is a problem+json naming what failed.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v.split(';').next().unwrap_or_default().trim();
                essence.eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::new(ErrorKind::Malformed, "Content-Type must be application/json (UTF-8)")
                .with_rule("body.content_type"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(ErrorKind::PayloadTooLarge, "request body exceeds the size limit").with_rule("body.size")
            } else {
                Problem::new(ErrorKind::Malformed, format!("cannot read request body: {rejection}"))
            }
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            Problem::new(
                ErrorKind::Malformed,
                format!("request body is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()),
            )
            .with_rule("body.utf8")
        })?;
        parse_json(text).map(ApiJson)
    }
}

/// Parses `text`, naming the path of the first field that does not fit.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Problem::new(ErrorKind::Malformed, format!("request body is not valid JSON: {inner}"))
                .with_rule("body.json")
        } else {
            let field = if path == "." { "body".to_owned() } else { path };
            Problem::field(field, strip_position(&inner.to_string()))
        }
    })
}

/// serde_json appends "at line L column C"; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Completes a service's OpenAPI document with what every route shares, so that generated
/// clients see the API as the server runs it: `#[openapi(modifiers(&ApiContract))]`.
/// - the `api_key` bearer scheme every authenticated path names;
/// - the problem+json body (`Problem`) of every refusal, and every status the server shell or
///   the framework may answer with on any route (400 malformed, 401, 403, 404, 405, 413 for a
///   body, 422, 409 for a change, 500, 503), each with its description;
/// - a description on every response, which the OpenAPI schema requires;
/// - a closed list of values, written on a field as the pattern `^(a|b|c)$`, stated as an
///   `enum` (what generated clients turn into a type).
pub struct ApiContract;

/// The values of a pattern that lists them, `^(a|b|c)$` of identifiers.
fn listed_values(pattern: &str) -> Option<Vec<&str>> {
    let inner = pattern.strip_prefix("^(")?.strip_suffix(")$")?;
    let values: Vec<&str> = inner.split('|').collect();
    values
        .iter()
        .all(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .then_some(values)
}

/// Turns every listing pattern under `schema` into an `enum` (with `null` where the field may
/// be null).
fn enums_from_patterns(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::Schema>) {
    use utoipa::openapi::schema::{ArrayItems, SchemaType, Type};
    use utoipa::openapi::{RefOr, Schema};
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            if let Some(values) = o.pattern.as_deref().and_then(listed_values) {
                let mut list: Vec<serde_json::Value> = values.into_iter().map(serde_json::Value::from).collect();
                if matches!(&o.schema_type, SchemaType::Array(types) if types.contains(&Type::Null)) {
                    list.push(serde_json::Value::Null);
                }
                o.enum_values = Some(list);
                o.pattern = None;
            }
            o.properties.values_mut().for_each(enums_from_patterns);
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                enums_from_patterns(items);
            }
        }
        Schema::OneOf(x) => x.items.iter_mut().for_each(enums_from_patterns),
        Schema::AllOf(x) => x.items.iter_mut().for_each(enums_from_patterns),
        Schema::AnyOf(x) => x.items.iter_mut().for_each(enums_from_patterns),
        _ => {}
    }
}

/// The statuses any route may answer with besides its own, and what each means here.
const SHARED_REFUSALS: &[(&str, &str)] = &[
    ("400", "The request cannot be read: a path segment, a query or a body that does not parse (problem+json)."),
    ("401", "No API key, or an unknown one (problem+json, rule `auth.key`)."),
    ("403", "The caller's role or scope may not do this (problem+json naming the rule)."),
    ("404", "No such record, or no such route (problem+json)."),
    ("405", "The route does not take this method (problem+json)."),
    ("422", "Fields break rules: each one named in `errors[]` with the rule (problem+json)."),
    ("500", "An unexpected failure, logged with a reference; nothing is half-done (problem+json)."),
    ("503", "Storage or a peer service is unavailable; retry later (problem+json)."),
];

fn status_meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK.",
        "201" => "Created.",
        "202" => "Accepted: the work goes on in the background.",
        "204" => "Done; no body.",
        "409" => {
            "The change conflicts with the current state or a concurrent change (problem+json with the rule, the state and what is allowed)."
        }
        "413" => "The body exceeds the size bound (problem+json naming the bound).",
        "415" => "The body's content type is not one this route reads (problem+json).",
        other => {
            SHARED_REFUSALS.iter().find(|(s, _)| *s == other).map(|(_, m)| *m).unwrap_or("See the problem+json body.")
        }
    }
}

impl utoipa::Modify for ApiContract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.schemas.insert("Problem".to_owned(), <crate::error::ProblemJson as utoipa::PartialSchema>::schema());
        let mut nested = Vec::new();
        <crate::error::ProblemJson as utoipa::ToSchema>::schemas(&mut nested);
        components.schemas.extend(nested);
        let problem = |status: &str| {
            ResponseBuilder::new()
                .description(status_meaning(status))
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::<utoipa::openapi::Schema>::Ref(Ref::from_schema_name("Problem"))))
                        .build(),
                )
                .build()
        };
        components.schemas.values_mut().for_each(enums_from_patterns);
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.patch, true),
            ];
            for (operation, changes) in operations {
                let Some(op) = operation.as_mut() else { continue };
                for parameter in op.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter
                        && let Some(schema) = parameter.schema.as_mut()
                    {
                        enums_from_patterns(schema);
                    }
                }
                let responses = &mut op.responses.responses;
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(r) = response {
                        if r.description.is_empty() {
                            r.description = status_meaning(status).to_owned();
                        }
                        let refusal = status.starts_with('4') || status.starts_with('5');
                        if refusal && r.content.is_empty() {
                            *r = problem(status);
                        }
                    }
                }
                let mut shared: Vec<&str> = SHARED_REFUSALS.iter().map(|(s, _)| *s).collect();
                if changes {
                    shared.push("409");
                }
                if op.request_body.is_some() {
                    shared.extend(["413", "415"]);
                }
                for status in shared {
                    responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(problem(status)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        kind: Kind,
        matters: Vec<Matter>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Complaint,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Matter {
        summary: String,
    }

    #[test]
    fn unknown_enum_names_the_field_and_the_variants() {
        let err = parse_json::<Order>(r#"{"kind":"rant","matters":[]}"#).expect_err("bad enum");
        assert_eq!(err.violations[0].field, "kind");
        assert!(err.violations[0].description.contains("complaint"), "{err}");
    }

    #[test]
    fn nested_type_error_names_the_path() {
        let err = parse_json::<Order>(r#"{"kind":"complaint","matters":[{"summary":1}]}"#).expect_err("bad type");
        assert_eq!(err.violations[0].field, "matters[0].summary");
    }

    #[test]
    fn syntax_error_is_malformed() {
        let err = parse_json::<Order>("{").expect_err("bad json");
        assert_eq!(err.kind, ErrorKind::Malformed);
    }
}

/// Query parameters, strictly typed; a bad parameter is a 422 naming it.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri).map(|q| ApiQuery(q.0)).map_err(|rejection| {
            let text = rejection.body_text();
            let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text).to_owned();
            Problem::field("query", text)
        })
    }
}
