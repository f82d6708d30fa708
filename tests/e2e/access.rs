//! The authorization table (`runtime::access`), cell by cell through the public APIs: every REST
//! route and gRPC method of the four services, called with every role's key (and with none).
//! A refused cell answers 403 naming the rule before any handler runs, whatever the record; an
//! allowed or scoped cell gets past the gate (its answer may be 404 or 422 for the made-up record
//! and body, never a refusal of the role). The table lists exactly the operations the OpenAPI
//! documents and the proto services declare.

use std::collections::BTreeSet;

use caseflow::Service;
use caseflow_runtime::access::{self, Access, Call};
use caseflow_runtime::auth::Role;
use caseflow_tests::{Sandbox, keys};
use prost::Message as _;
use serde_json::Value;

/// Any message: an empty one encodes as zero bytes (every request's defaults) and any answer
/// decodes into it (its fields skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct Nothing {}

fn service_of(name: &str) -> Service {
    match name {
        "intake" => Service::Intake,
        "routing" => Service::Routing,
        "evaluation" => Service::Evaluation,
        _ => Service::Reporting,
    }
}

fn key_of(role: Role) -> &'static str {
    match role {
        Role::Integrator => keys::INTEGRATOR,
        Role::Dispatcher => keys::DISPATCHER,
        Role::UnitHandler => keys::CHENGGUAN,
        Role::Evaluator => keys::EVALUATOR,
        Role::EfficiencyOffice => keys::OFFICE,
        Role::Admin => keys::ADMIN,
        Role::Service => keys::SERVICE,
        Role::Importer => keys::IMPORTER,
    }
}

/// The header value the importer acts as on `call` (the first role the table lists for it).
fn acting(call: &Call) -> Option<String> {
    call.import_as.first().map(|r| match r {
        Role::UnitHandler => "unit_handler:chengguan".to_owned(),
        other => other.as_str().to_owned(),
    })
}

/// A concrete path for a template: made-up ids (no such record exists).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{ordinal}" => "1".to_owned(),
            "{code}" => "chengguan".to_owned(),
            s if s.starts_with('{') => "00000000-0000-0000-0000-000000000000".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What a call answered: whether it got in (authenticated), and a refusal's rule.
#[derive(Debug)]
struct Answer {
    status: String,
    unauthenticated: bool,
    refused_rule: Option<String>,
}

async fn rest(sandbox: &Sandbox, call: &Call, role: Option<Role>) -> Answer {
    let url = sandbox.url(service_of(call.service), &concrete(call.path));
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).expect("method");
    let mut req = sandbox.http.request(method.clone(), url);
    if let Some(role) = role {
        req = req.bearer_auth(key_of(role));
    }
    if method != reqwest::Method::GET {
        req = req.header("content-type", "application/json").body("{}");
    }
    let resp = req.send().await.expect("answers");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status: format!("{status} {body}"),
        unauthenticated: status == 401,
        refused_rule: (status == 403).then(|| body["rule"].as_str().unwrap_or("").to_owned()),
    }
}

async fn grpc(sandbox: &Sandbox, channel: tonic::transport::Channel, call: &Call, role: Option<Role>) -> Answer {
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let mut request = tonic::Request::new(Nothing {});
    if let Some(role) = role {
        request.metadata_mut().insert("authorization", format!("Bearer {}", key_of(role)).parse().expect("header"));
        if role == Role::Importer
            && let Some(act) = acting(call)
        {
            request.metadata_mut().insert("x-caseflow-act-as", act.parse().expect("header"));
        }
    }
    let path = http::uri::PathAndQuery::from_static(call.path);
    let codec = tonic_prost::ProstCodec::<Nothing, Nothing>::default();
    let result = if call.path.ends_with("/Subscribe") {
        client.server_streaming(request, path, codec).await.map(|_| ())
    } else {
        client.unary(request, path, codec).await.map(|_| ())
    };
    let _ = sandbox;
    match result {
        Ok(()) => Answer { status: "OK".into(), unauthenticated: false, refused_rule: None },
        Err(s) => Answer {
            status: format!("{:?} {}", s.code(), s.message()),
            unauthenticated: s.code() == tonic::Code::Unauthenticated,
            refused_rule: (s.code() == tonic::Code::PermissionDenied)
                .then(|| caseflow_runtime::error::status_rule(&s).unwrap_or_default()),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_authorization_table_holds_through_the_public_apis() {
    let sandbox = Sandbox::start().await;
    let mut wrong = Vec::new();
    let mut cells = 0;
    for call in access::TABLE {
        let channel = sandbox.channel(service_of(call.service)).await;
        for role in std::iter::once(None).chain(access::ROLES.into_iter().map(Some)) {
            let answer = if call.is_grpc() {
                grpc(&sandbox, channel.clone(), call, role).await
            } else {
                rest(&sandbox, call, role).await
            };
            cells += 1;
            let granted = match role {
                None => call.public,
                // The importer's key reaches the import calls only, public ones included.
                Some(Role::Importer) => !call.import_as.is_empty(),
                Some(r) => call.public || call.access(r).is_some(),
            };
            let refused_by_table = matches!(answer.refused_rule.as_deref(), Some("auth.role" | "import.scope"));
            let ok = match (role, granted) {
                (None, false) => answer.unauthenticated,
                (_, false) => refused_by_table,
                (_, true) => !answer.unauthenticated && !refused_by_table,
            };
            if !ok {
                let cell = match role.and_then(|r| call.access(r)) {
                    Some(Access::Allowed) => "allowed".to_owned(),
                    Some(Access::Scoped(w)) => format!("scoped ({w})"),
                    None if granted => "granted".to_owned(),
                    None => "refused".to_owned(),
                };
                wrong.push(format!(
                    "{} {} {} as {}: the table says {cell}, the service answered {}",
                    call.service,
                    call.method,
                    call.path,
                    role.map_or("nobody", Role::as_str),
                    answer.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {cells} cells differ from the table:\n{}", wrong.len(), wrong.join("\n"));
    assert!(cells >= 94 * 9, "every call with every role and with none: {cells}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_lists_exactly_the_operations_the_services_declare() {
    let sandbox = Sandbox::start().await;
    let listed: BTreeSet<(String, String, String)> =
        access::TABLE.iter().map(|c| (c.service.to_owned(), c.method.to_owned(), c.path.to_owned())).collect();
    let mut declared = BTreeSet::new();
    for service in ["intake", "routing", "evaluation", "reporting"] {
        let (status, doc) = sandbox.get_json(service_of(service), "/openapi.json", keys::ADMIN).await;
        assert_eq!(status, 200);
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("operations").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    declared.insert((service.to_owned(), method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    let set = prost_types::FileDescriptorSet::decode(caseflow_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    for file in set.file {
        let package = file.package.clone().unwrap_or_default();
        for svc in file.service {
            let name = svc.name.clone().unwrap_or_default();
            let served_by: &[&str] = match name.as_str() {
                "EventStream" => &["intake", "routing", "evaluation"],
                "Intake" => &["intake"],
                "Routing" => &["routing"],
                "Evaluation" => &["evaluation"],
                "Reporting" => &["reporting"],
                other => panic!("a proto service no Caseflow service serves: {other}"),
            };
            for method in &svc.method {
                for service in served_by {
                    let path = format!("/{package}.{name}/{}", method.name.clone().unwrap_or_default());
                    declared.insert(((*service).to_owned(), "gRPC".to_owned(), path));
                }
            }
        }
    }
    let unlisted: Vec<_> = declared.difference(&listed).collect();
    let undeclared: Vec<_> = listed.difference(&declared).collect();
    assert!(unlisted.is_empty(), "operations the table does not list: {unlisted:?}");
    assert!(undeclared.is_empty(), "table rows no service declares: {undeclared:?}");
    sandbox.shutdown().await;
}
