//! The authorization table: every REST route and gRPC method of the four services, and for each
//! role whether it may call it (allowed), may call it for some records only (scoped: the service
//! checks the record), or is refused. This is the one place it is written down:
//! - the server shell enforces it before any handler runs (`server::access_gate`): a refused role
//!   is a 403 naming the role, the call and the roles it is for, whatever the record;
//! - the importer reaches only the calls whose `import_as` is not empty, acting as one of those
//!   roles (the import format's calls, nothing that reads or reveals citizen data);
//! - `docs/access.md` is generated from it (`caseflow access-table`), and a test keeps the two
//!   equal;
//! - an end-to-end test calls every route and method with every role's key and checks each cell.
//!
//! A scoped cell's record rules live with the records: a unit handler sees and acts on its own
//! unit's dispatches, the integrator rates and follows up hotline cases and the petition desk
//! petitions (`evaluation.source_role`), the integrator reads no petition (`scope.source`).
//!
//! Health (`/health/*`), the OpenAPI documents (`/openapi.json`), gRPC health and reflection need
//! no key and are not listed. Neither are the office's console pages (`/console/*` on
//! reporting) nor the pages' font: they are a browser's pages, not API calls; each page signs
//! its user in with a key and reads through the same service-layer checks as the API
//! (`reporting::console`).

use crate::auth::Role::{self, *};

/// What a role may do with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Allowed for the records the text names; the service refuses the others.
    Scoped(&'static str),
}
use Access::*;

/// One REST route (method and path template, as the OpenAPI document has it) or gRPC method.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// The service that serves it: intake, routing, evaluation or reporting.
    pub service: &'static str,
    /// `GET`, `POST`, `PATCH`, or `gRPC`.
    pub method: &'static str,
    pub path: &'static str,
    /// What it does, as a refusal names it ("role 'x' may not <action>").
    pub action: &'static str,
    /// Needs no key (the one-time rating link is its own credential).
    pub public: bool,
    /// The roles that may call it; every other role is refused.
    pub grants: &'static [(Role, Access)],
    /// The roles the importer may act as on this call; empty: the importer may not call it.
    pub import_as: &'static [Role],
}

impl Call {
    /// What `role` may do with this call; `None` is refused.
    pub fn access(&self, role: Role) -> Option<Access> {
        self.grants.iter().find(|(r, _)| *r == role).map(|(_, a)| *a)
    }

    pub fn is_grpc(&self) -> bool {
        self.method == "gRPC"
    }
}

/// The roles as the table's columns, in order.
pub const ROLES: [Role; 8] =
    [Integrator, Dispatcher, UnitHandler, Evaluator, EfficiencyOffice, Admin, Service, Importer];

/// The call `service` serves at `method` and `path` (a route template, or a gRPC path with
/// `method` "gRPC").
pub fn find(service: &str, method: &str, path: &str) -> Option<&'static Call> {
    TABLE.iter().find(|c| c.service == service && c.method == method && c.path == path)
}

/// Whether the importer may call the gRPC method at `path` at all.
pub fn importable(path: &str) -> bool {
    TABLE.iter().any(|c| c.is_grpc() && c.path == path && !c.import_as.is_empty())
}

/// The table as Markdown, for `docs/access.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Who may call what\n\n\
         Generated from `services/runtime/src/access.rs` by `caseflow access-table`; do not edit \
         (a test keeps the two equal).\n\n\
         **allowed**: any record. **scoped**: some records only, named in the cell; the service \
         refuses the others. **—**: refused with 403 `auth.role` before any handler runs. The \
         importer's column names the roles it may act as (`x-caseflow-act-as`); elsewhere it is \
         refused with 403 `import.scope`.\n",
    );
    for service in ["intake", "routing", "evaluation", "reporting"] {
        out.push_str(&format!("\n## {service}\n\n| call |"));
        for role in ROLES {
            out.push_str(&format!(" {} |", role.as_str()));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(ROLES.len()));
        out.push('\n');
        for call in TABLE.iter().filter(|c| c.service == service) {
            out.push_str(&format!("| `{} {}` |", call.method, call.path));
            for role in ROLES {
                let cell = match (role, call.public, call.access(role)) {
                    (Importer, _, _) if call.import_as.is_empty() => "—".to_owned(),
                    (_, true, _) => "public (one-time link)".to_owned(),
                    (Importer, _, _) => {
                        format!("as {}", call.import_as.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
                    }
                    (_, _, Some(Allowed)) => "allowed".to_owned(),
                    (_, _, Some(Scoped(what))) => format!("scoped: {what}"),
                    (_, _, None) => "—".to_owned(),
                };
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        }
    }
    out
}

/// Every call of the four services.
pub static TABLE: &[Call] = &[
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/hotline/orders",
        action: "submit hotline work orders",
        public: false,
        grants: &[(Integrator, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/petitions",
        action: "register petitions",
        public: false,
        grants: &[(Integrator, Allowed), (Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/petitions/{case_id}/decision",
        action: "decide on petitions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/petitions/{case_id}/reviews",
        action: "record review requests",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/petitions/{case_id}/reviews",
        action: "read reviews",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/petitions/{case_id}/reviews/{level}/decision",
        action: "record review decisions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/cases",
        action: "list cases",
        public: false,
        grants: &[
            (Integrator, Scoped("hotline cases only")),
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("cases dispatched to its unit")),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/cases/{case_id}",
        action: "read cases",
        public: false,
        grants: &[
            (Integrator, Scoped("hotline cases only")),
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("cases dispatched to its unit")),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/cases/{case_id}/reveal",
        action: "reveal citizen data",
        public: false,
        grants: &[
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("its unit's cases; never an accuser or a hidden identity")),
            (Admin, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/cases/{case_id}/reveals",
        action: "audit reveals",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/cases/{case_id}/threat",
        action: "flag threats",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/watch",
        action: "read the watch ledger",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "PATCH",
        path: "/v1/watch/{watch_id}",
        action: "update the watch ledger",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/repeat-petitioners",
        action: "read the repeat-petitioner list",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "POST",
        path: "/v1/leader-receptions",
        action: "record leader receptions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/leader-receptions",
        action: "read leader receptions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "PATCH",
        path: "/v1/leader-receptions/{reception_id}/matters/{ordinal}",
        action: "update leader receptions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "GET",
        path: "/v1/taxonomy",
        action: "read the category taxonomy",
        public: false,
        grants: &[
            (Integrator, Allowed),
            (Dispatcher, Allowed),
            (UnitHandler, Allowed),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/SubmitHotlineOrder",
        action: "submit hotline work orders",
        public: false,
        grants: &[(Integrator, Allowed), (Admin, Allowed)],
        import_as: &[Integrator],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/SubmitPetition",
        action: "register petitions",
        public: false,
        grants: &[(Integrator, Allowed), (Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/DecidePetition",
        action: "decide on petitions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/RequestReview",
        action: "record review requests",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/DecideReview",
        action: "record review decisions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/GetCase",
        action: "read cases",
        public: false,
        grants: &[
            (Integrator, Scoped("hotline cases only")),
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("cases dispatched to its unit")),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/RevealCitizen",
        action: "reveal on behalf of someone",
        public: false,
        grants: &[(Service, Scoped("on behalf of an admin or a dispatcher; logged"))],
        import_as: &[],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/RecordLeaderReception",
        action: "record leader receptions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.Intake/UpdateReceptionOutcome",
        action: "update leader receptions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "intake",
        method: "gRPC",
        path: "/caseflow.v1.EventStream/Subscribe",
        action: "read the event stream",
        public: false,
        grants: &[(Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/units",
        action: "read the unit registry",
        public: false,
        grants: &[
            (Integrator, Allowed),
            (Dispatcher, Allowed),
            (UnitHandler, Allowed),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/units/{code}/succession",
        action: "change the unit registry",
        public: false,
        grants: &[(Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/catalog",
        action: "read the duty catalogue",
        public: false,
        grants: &[
            (Integrator, Allowed),
            (Dispatcher, Allowed),
            (UnitHandler, Allowed),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/catalog/overlaps",
        action: "read the duty catalogue",
        public: false,
        grants: &[
            (Integrator, Allowed),
            (Dispatcher, Allowed),
            (UnitHandler, Allowed),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/inbox",
        action: "read its inbox",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's open dispatches"))],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/cases/{case_id}/dispatches",
        action: "read dispatches",
        public: false,
        grants: &[
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("cases dispatched to its unit")),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/cases/{case_id}/log",
        action: "read the routing log",
        public: false,
        grants: &[
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("cases dispatched to its unit")),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/dispatches/{id}",
        action: "read dispatches",
        public: false,
        grants: &[
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("its unit's dispatches")),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/acknowledge",
        action: "acknowledge dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/land",
        action: "land dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/reply",
        action: "reply on dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/case-analysis",
        action: "file case analyses",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/returns",
        action: "ask to return dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/extensions",
        action: "ask for extensions",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/review",
        action: "review replies",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/resolve",
        action: "resolve dispatches",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/transfer",
        action: "transfer dispatches",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/supervision",
        action: "supervise dispatches",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/dispatches/{id}/rehandle",
        action: "ask for re-handling",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/returns/{id}/decision",
        action: "decide returns",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/extensions/{id}/decision",
        action: "decide extensions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/matters/{id}/designation",
        action: "designate units",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/matters/{id}/assignment",
        action: "assign from triage",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/matters/{id}/assists",
        action: "add assisting units",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/matters/{id}",
        action: "read matters",
        public: false,
        grants: &[(Dispatcher, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/matters/{id}/returns",
        action: "read return requests",
        public: false,
        grants: &[(Dispatcher, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/matters/{id}/suggestions",
        action: "read suggestions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/suggester",
        action: "read the suggester's model",
        public: false,
        grants: &[(Dispatcher, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/suggester/training",
        action: "retrain the suggester",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/suggester/accuracy",
        action: "read first-assignment accuracy",
        public: false,
        grants: &[(Dispatcher, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "GET",
        path: "/v1/catalog/contradictions",
        action: "read the catalog's contradictions",
        public: false,
        grants: &[(Dispatcher, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "POST",
        path: "/v1/scanner/run",
        action: "run the scanner",
        public: false,
        grants: &[(Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/ListUnits",
        action: "read the unit registry",
        public: false,
        grants: &[
            (Integrator, Allowed),
            (Dispatcher, Allowed),
            (UnitHandler, Allowed),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/ListCaseDispatches",
        action: "read dispatches",
        public: false,
        grants: &[
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("cases dispatched to its unit")),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/CaseLog",
        action: "read the routing log",
        public: false,
        grants: &[
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("cases dispatched to its unit")),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/GetDispatch",
        action: "read dispatches",
        public: false,
        grants: &[
            (Dispatcher, Allowed),
            (UnitHandler, Scoped("its unit's dispatches")),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Inbox",
        action: "read its inbox",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's open dispatches"))],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Acknowledge",
        action: "acknowledge dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[UnitHandler],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Land",
        action: "land dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[UnitHandler],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Reply",
        action: "reply on dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[UnitHandler],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/FileCaseAnalysis",
        action: "file case analyses",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[UnitHandler],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/RequestReturn",
        action: "ask to return dispatches",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[UnitHandler],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/RequestExtension",
        action: "ask for extensions",
        public: false,
        grants: &[(UnitHandler, Scoped("its unit's dispatches")), (Admin, Allowed)],
        import_as: &[UnitHandler],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Review",
        action: "review replies",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Resolve",
        action: "resolve dispatches",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/DecideReturn",
        action: "decide returns",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/DecideExtension",
        action: "decide extensions",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Designate",
        action: "designate units",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Transfer",
        action: "transfer dispatches",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Assign",
        action: "assign from triage",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[Dispatcher],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/AddAssist",
        action: "add assisting units",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Supervise",
        action: "supervise dispatches",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/Rehandle",
        action: "ask for re-handling",
        public: false,
        grants: &[(Dispatcher, Allowed), (Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.Routing/SucceedUnit",
        action: "change the unit registry",
        public: false,
        grants: &[(Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "routing",
        method: "gRPC",
        path: "/caseflow.v1.EventStream/Subscribe",
        action: "read the event stream",
        public: false,
        grants: &[(Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "POST",
        path: "/v1/evaluations/expiry/run",
        action: "run the expiry scan",
        public: false,
        grants: &[(Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "GET",
        path: "/v1/evaluations/{case_id}",
        action: "read evaluations",
        public: false,
        grants: &[
            (Integrator, Scoped("hotline cases only")),
            (Dispatcher, Allowed),
            (Evaluator, Allowed),
            (EfficiencyOffice, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "POST",
        path: "/v1/evaluations/{case_id}/follow-ups",
        action: "record follow-ups",
        public: false,
        grants: &[
            (Integrator, Scoped("hotline cases only")),
            (Dispatcher, Allowed),
            (Evaluator, Scoped("petitions only")),
            (Admin, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "POST",
        path: "/v1/evaluations/{case_id}/link",
        action: "issue rating links",
        public: false,
        grants: &[(Integrator, Scoped("hotline cases only")), (Evaluator, Scoped("petitions only")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "POST",
        path: "/v1/evaluations/{case_id}/ratings",
        action: "record ratings",
        public: false,
        grants: &[(Integrator, Scoped("hotline cases only")), (Evaluator, Scoped("petitions only")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "GET",
        path: "/v1/rates",
        action: "read rates",
        public: false,
        grants: &[(Dispatcher, Allowed), (Evaluator, Allowed), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "POST",
        path: "/v1/ratings",
        action: "rate with a one-time link",
        public: true,
        grants: &[],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "GET",
        path: "/rate",
        action: "open the rating page of a one-time link",
        public: true,
        grants: &[],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "POST",
        path: "/rate",
        action: "rate on the rating page of a one-time link",
        public: true,
        grants: &[],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "gRPC",
        path: "/caseflow.v1.Evaluation/GetCaseSubjects",
        action: "read evaluation subjects",
        public: false,
        grants: &[
            (Integrator, Scoped("hotline cases only")),
            (Evaluator, Allowed),
            (Admin, Allowed),
            (Service, Allowed),
        ],
        import_as: &[],
    },
    Call {
        service: "evaluation",
        method: "gRPC",
        path: "/caseflow.v1.Evaluation/Rate",
        action: "record ratings",
        public: false,
        grants: &[(Integrator, Scoped("hotline cases only")), (Evaluator, Scoped("petitions only")), (Admin, Allowed)],
        import_as: &[Integrator, Evaluator],
    },
    Call {
        service: "evaluation",
        method: "gRPC",
        path: "/caseflow.v1.Evaluation/FollowUp",
        action: "record follow-ups",
        public: false,
        grants: &[
            (Integrator, Scoped("hotline cases only")),
            (Dispatcher, Allowed),
            (Evaluator, Scoped("petitions only")),
            (Admin, Allowed),
        ],
        import_as: &[Integrator, Evaluator],
    },
    Call {
        service: "evaluation",
        method: "gRPC",
        path: "/caseflow.v1.Evaluation/Expire",
        action: "expire evaluations",
        public: false,
        grants: &[(Integrator, Scoped("hotline cases only")), (Evaluator, Scoped("petitions only")), (Admin, Allowed)],
        import_as: &[Integrator, Evaluator],
    },
    Call {
        service: "evaluation",
        method: "gRPC",
        path: "/caseflow.v1.EventStream/Subscribe",
        action: "read the event stream",
        public: false,
        grants: &[(Admin, Allowed), (Service, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/unit-counts",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/attachment-1",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/attachment-2",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/attachment-3",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/attachments.xlsx",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/cells",
        action: "read the facts behind a report's figure",
        public: false,
        grants: &[(UnitHandler, Scoped("its own unit's figures")), (EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/bounce",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/summary",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Scoped("names of repeat petitioners for the admin only")), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/reports/bulletin",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "POST",
        path: "/v1/reports/reconciliation",
        action: "reconcile a printed report",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "GET",
        path: "/v1/read-model",
        action: "read the read model's status",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "POST",
        path: "/v1/read-model/rebuild",
        action: "rebuild the read model",
        public: false,
        grants: &[(Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "gRPC",
        path: "/caseflow.v1.Reporting/UnitCounts",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Allowed), (Admin, Allowed)],
        import_as: &[],
    },
    Call {
        service: "reporting",
        method: "gRPC",
        path: "/caseflow.v1.Reporting/Report",
        action: "read reports",
        public: false,
        grants: &[(EfficiencyOffice, Scoped("names of repeat petitioners for the admin only")), (Admin, Allowed)],
        import_as: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_documentation_is_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/access.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/access.md differs from the table: run `cargo run --bin caseflow -- access-table --out docs/access.md`"
        );
    }

    #[test]
    fn each_call_is_listed_once_and_the_importer_acts_only_as_roles_the_call_grants() {
        for (i, call) in TABLE.iter().enumerate() {
            assert!(
                !TABLE[..i].iter().any(|c| (c.service, c.method, c.path) == (call.service, call.method, call.path)),
                "{} {} {} listed twice",
                call.service,
                call.method,
                call.path
            );
            for role in call.import_as {
                assert!(
                    call.access(*role).is_some(),
                    "{}: the importer acts as {role:?}, which it does not grant",
                    call.path
                );
            }
            assert!(call.public || !call.grants.is_empty(), "{}: nobody may call it", call.path);
        }
    }
}
