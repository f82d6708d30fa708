//! The dispatch lifecycle and the rules on return, as plain functions over plain types.
//!
//! ```text
//! dispatched -> acknowledged -> landed -> replied -> reviewed -> resolved
//!                                           |  ^        |            |
//!                                           v  |        v            v
//!                                         rehandling <--+------------+  (重办: review or rating)
//! ```
//! A dispatch also closes as `returned` (an approved return), `transferred` (a dispatcher moved
//! it) or `superseded` (a designation sent the matter elsewhere).

use chrono::{DateTime, Utc};

use caseflow_runtime::{ErrorKind, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Dispatched,
    Acknowledged,
    Landed,
    Replied,
    Reviewed,
    Resolved,
    Rehandling,
    Returned,
    Transferred,
    Superseded,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Dispatched,
        State::Acknowledged,
        State::Landed,
        State::Replied,
        State::Reviewed,
        State::Resolved,
        State::Rehandling,
        State::Returned,
        State::Transferred,
        State::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispatched => "dispatched",
            Self::Acknowledged => "acknowledged",
            Self::Landed => "landed",
            Self::Replied => "replied",
            Self::Reviewed => "reviewed",
            Self::Resolved => "resolved",
            Self::Rehandling => "rehandling",
            Self::Returned => "returned",
            Self::Transferred => "transferred",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Still with its unit: neither resolved nor closed.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Returned | Self::Transferred | Self::Superseded)
    }
}

/// What can be done to a dispatch. Unit actions come from the unit holding it; the others from
/// a dispatcher, or (rehandle) from evaluation after an unsatisfied rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Acknowledge,
    Land,
    Reply,
    RequestReturn,
    RequestExtension,
    FileCaseAnalysis,
    ReviewAccept,
    ReviewSendBack,
    Resolve,
    Rehandle,
    Transfer,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Land => "land",
            Self::Reply => "reply",
            Self::RequestReturn => "return_request",
            Self::RequestExtension => "extension_request",
            Self::FileCaseAnalysis => "case_analysis",
            Self::ReviewAccept => "review_accept",
            Self::ReviewSendBack => "review_send_back",
            Self::Resolve => "resolve",
            Self::Rehandle => "rehandle",
            Self::Transfer => "transfer",
        }
    }

    const ALL: [Action; 11] = [
        Action::Acknowledge,
        Action::Land,
        Action::Reply,
        Action::RequestReturn,
        Action::RequestExtension,
        Action::FileCaseAnalysis,
        Action::ReviewAccept,
        Action::ReviewSendBack,
        Action::Resolve,
        Action::Rehandle,
        Action::Transfer,
    ];
}

/// The state an action leads to, or `None` when it is not allowed in `from`. Actions that
/// record something without moving the dispatch (a return or extension request, the case
/// analysis) lead to `from` itself.
pub fn next(from: State, action: Action) -> Option<State> {
    use Action as A;
    use State as S;
    match (from, action) {
        (S::Dispatched, A::Acknowledge) => Some(S::Acknowledged),
        (S::Acknowledged, A::Land) => Some(S::Landed),
        (S::Landed | S::Rehandling, A::Reply) => Some(S::Replied),
        (S::Dispatched | S::Acknowledged | S::Landed, A::RequestReturn) => Some(from),
        (s, A::RequestExtension) if s.is_open() => Some(from),
        (S::Landed | S::Replied | S::Reviewed | S::Rehandling | S::Resolved, A::FileCaseAnalysis) => Some(from),
        (S::Replied, A::ReviewAccept) => Some(S::Reviewed),
        (S::Replied | S::Reviewed, A::ReviewSendBack) => Some(S::Rehandling),
        (S::Reviewed, A::Resolve) => Some(S::Resolved),
        (S::Resolved, A::Rehandle) => Some(S::Rehandling),
        (S::Dispatched | S::Acknowledged | S::Landed | S::Rehandling, A::Transfer) => Some(S::Transferred),
        _ => None,
    }
}

/// Every action allowed in `state`, for refusals and the inbox.
pub fn allowed(state: State) -> Vec<&'static str> {
    Action::ALL.into_iter().filter(|a| next(state, *a).is_some()).map(Action::as_str).collect()
}

/// The refusal of an action not allowed in the current state.
pub fn refuse(state: State, action: Action) -> Problem {
    let allowed = allowed(state);
    Problem::new(
        ErrorKind::FailedPrecondition,
        format!(
            "{} is not allowed while the dispatch is {}; allowed: {}",
            action.as_str(),
            state.as_str(),
            if allowed.is_empty() { "nothing (the dispatch is closed)".to_owned() } else { allowed.join(", ") }
        ),
    )
    .with_rule("dispatch.state")
    .with_state(state.as_str(), allowed.iter().map(|s| (*s).to_owned()).collect())
}

/// The state after `action`, or the refusal naming the state and what is allowed.
pub fn transition(from: State, action: Action) -> Result<State, Problem> {
    next(from, action).ok_or_else(|| refuse(from, action))
}

/// How a unit learned about the matter first-hand, required with a return request unless the
/// case is anonymous.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRecord {
    /// When the citizen was contacted or the site visited, RFC 3339.
    pub at: String,
    /// phone | site_visit | in_person | sms
    pub method: String,
    /// What was learned, in the unit's words.
    pub learned: String,
}

pub const CONTACT_METHODS: [&str; 4] = ["phone", "site_visit", "in_person", "sms"];

/// Facts a return request is judged on.
#[derive(Debug, Clone)]
pub struct ReturnFacts {
    pub now: DateTime<Utc>,
    pub dispatched_at: DateTime<Utc>,
    /// End of the return window.
    pub window_ends: DateTime<Utc>,
    pub designated: bool,
    pub role_is_lead: bool,
    pub anonymous: bool,
    pub approved_returns: i32,
    pub cap: u32,
    pub pending_request: bool,
}

/// Rules 1 (window), 5 (designated units cannot return; the cap) and the state checks, in the
/// order a clerk would want to hear them.
pub fn check_return_allowed(f: &ReturnFacts) -> Result<(), Problem> {
    if f.designated {
        return Err(Problem::new(
            ErrorKind::FailedPrecondition,
            "return refused: this unit was designated by arbitration and must handle the matter",
        )
        .with_rule("return.designated"));
    }
    if !f.role_is_lead {
        return Err(Problem::new(
            ErrorKind::FailedPrecondition,
            "return refused: an assisting unit does not return; ask the dispatcher to release it",
        )
        .with_rule("return.assist"));
    }
    if f.pending_request {
        return Err(Problem::new(ErrorKind::FailedPrecondition, "return refused: a return request is already pending")
            .with_rule("return.pending"));
    }
    if f.now > f.window_ends {
        let local = f.window_ends.with_timezone(&caseflow_runtime::clock::district_offset());
        return Err(Problem::new(
            ErrorKind::FailedPrecondition,
            format!(
                "return refused: the window closed at {}; this unit is now the first handler (首办责任制) and must handle the matter",
                local.format("%Y-%m-%d %H:%M")
            ),
        )
        .with_rule("return.window"));
    }
    if f.approved_returns >= i32::try_from(f.cap).unwrap_or(i32::MAX) {
        return Err(Problem::new(
            ErrorKind::FailedPrecondition,
            format!(
                "return refused: the matter was already returned {} times (the cap); it goes to arbitration, where a dispatcher designates the unit",
                f.approved_returns
            ),
        )
        .with_rule("return.cap"));
    }
    Ok(())
}

/// Whether a dispatch is overdue, derived from its deadlines and event times as of `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overdue {
    /// 逾期查阅: not acknowledged by its deadline.
    pub view: bool,
    /// 逾期办理: not resolved by its (possibly extended) deadline.
    pub handling: bool,
}

pub fn overdue(
    at: DateTime<Utc>,
    acknowledge_deadline: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    resolve_deadline: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
) -> Overdue {
    let late = |deadline: DateTime<Utc>, done: Option<DateTime<Utc>>| match done {
        Some(t) if t <= at => t > deadline,
        _ => at > deadline,
    };
    Overdue { view: late(acknowledge_deadline, acknowledged_at), handling: late(resolve_deadline, resolved_at) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_runs_in_order() {
        let mut s = State::Dispatched;
        for a in [Action::Acknowledge, Action::Land, Action::Reply, Action::ReviewAccept, Action::Resolve] {
            s = transition(s, a).expect("allowed");
        }
        assert_eq!(s, State::Resolved);
    }

    #[test]
    fn a_refusal_names_the_state_and_what_is_allowed() {
        let err = transition(State::Dispatched, Action::Reply).expect_err("cannot reply before landing");
        assert_eq!(err.rule.as_deref(), Some("dispatch.state"));
        assert_eq!(err.state.as_deref(), Some("dispatched"));
        assert!(err.allowed.contains(&"acknowledge".to_owned()), "{:?}", err.allowed);
        assert!(err.detail.contains("reply is not allowed while the dispatch is dispatched"), "{}", err.detail);
        let closed = transition(State::Returned, Action::Acknowledge).expect_err("closed");
        assert!(closed.detail.contains("closed"), "{}", closed.detail);
    }

    #[test]
    fn send_back_and_rehandling_loop_until_a_good_reply() {
        let s = transition(State::Replied, Action::ReviewSendBack).expect("send back");
        assert_eq!(s, State::Rehandling);
        assert_eq!(transition(s, Action::Reply).expect("reply again"), State::Replied);
        assert_eq!(transition(State::Resolved, Action::Rehandle).expect("after rating"), State::Rehandling);
    }

    #[test]
    fn returns_only_before_the_reply() {
        for s in [State::Dispatched, State::Acknowledged, State::Landed] {
            assert!(next(s, Action::RequestReturn).is_some(), "{s:?}");
        }
        for s in [State::Replied, State::Reviewed, State::Resolved, State::Rehandling] {
            assert!(next(s, Action::RequestReturn).is_none(), "{s:?}");
        }
    }

    fn facts() -> ReturnFacts {
        let t = DateTime::parse_from_rfc3339("2020-03-02T10:00:00+08:00").expect("time").with_timezone(&Utc);
        ReturnFacts {
            now: t,
            dispatched_at: t,
            window_ends: t + chrono::Duration::days(1),
            designated: false,
            role_is_lead: true,
            anonymous: false,
            approved_returns: 0,
            cap: 2,
            pending_request: false,
        }
    }

    #[test]
    fn return_rules_name_themselves() {
        assert!(check_return_allowed(&facts()).is_ok());
        let late = ReturnFacts { now: facts().window_ends + chrono::Duration::seconds(1), ..facts() };
        let err = check_return_allowed(&late).expect_err("window");
        assert_eq!(err.rule.as_deref(), Some("return.window"));
        assert!(
            err.detail.contains("the window closed at 2020-03-03 10:00; this unit is now the first handler"),
            "{}",
            err.detail
        );
        let capped = ReturnFacts { approved_returns: 2, ..facts() };
        assert_eq!(check_return_allowed(&capped).expect_err("cap").rule.as_deref(), Some("return.cap"));
        let designated = ReturnFacts { designated: true, ..facts() };
        assert_eq!(
            check_return_allowed(&designated).expect_err("designated").rule.as_deref(),
            Some("return.designated")
        );
    }

    #[test]
    fn overdue_is_derived_as_of_any_moment() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc);
        let (ack_due, resolve_due) = (t("2020-03-02T12:00:00+08:00"), t("2020-03-09T00:00:00+08:00"));
        let acked = Some(t("2020-03-02T13:00:00+08:00"));
        // Before the deadline nothing is overdue; a late acknowledgement is overdue from then on.
        assert!(!overdue(t("2020-03-02T11:00:00+08:00"), ack_due, acked, resolve_due, None).view);
        assert!(overdue(t("2020-03-05T00:00:00+08:00"), ack_due, acked, resolve_due, None).view);
        // Still open past the resolve deadline: overdue handling; resolved in time: never.
        assert!(overdue(t("2020-03-10T00:00:00+08:00"), ack_due, acked, resolve_due, None).handling);
        let resolved = Some(t("2020-03-08T12:00:00+08:00"));
        assert!(!overdue(t("2020-03-10T00:00:00+08:00"), ack_due, acked, resolve_due, resolved).handling);
    }
}
