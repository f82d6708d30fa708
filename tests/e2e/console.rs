//! The console's sign-in without a browser: single sign-on through the trusted proxy, the
//! session cookie, the CSRF token and the cross-site guard on forms, and the drill-down API's
//! scope for unit handlers. (The pages themselves are driven in Chromium by `browser.rs`.)

use caseflow::Service;
use caseflow_tests::{Sandbox, keys};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The session cookie an answer sets, as the browser would send it back.
fn cookie(res: &reqwest::Response) -> String {
    let set = res.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).expect("a cookie is set");
    set.split(';').next().expect("name=value").to_owned()
}

const PERIOD: &str = "from=2020-01-01&to=2020-07-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trusted_proxy_signs_in_its_user_and_nothing_else_can() {
    let sandbox = Sandbox::start().await;
    let http = no_redirects();
    let page = sandbox.url(Service::Reporting, &format!("/console?{PERIOD}"));

    // Without a session or the proxy: the sign-in page.
    let res = http.get(&page).send().await.expect("answers");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers()[LOCATION].to_str().expect("text").starts_with("/console/login?next="));

    // The proxy names its user and shows its secret: a session, and the same page again.
    let res = http
        .get(&page)
        .header("x-remote-user", "sso.office")
        .header("x-caseflow-proxy-key", keys::SSO_PROXY)
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = cookie(&res);
    let set = res.headers()[SET_COOKIE].to_str().expect("text").to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Max-Age=32400"] {
        assert!(set.contains(part), "{set}");
    }
    let res = http.get(&page).header(COOKIE, &session).send().await.expect("answers");
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.expect("page");
    assert!(body.contains("sso.office (office)"), "the page names who signed in");

    // A user named without the proxy's secret, or with a wrong one, or one it may not name.
    for (user, key) in [("sso.office", None), ("sso.office", Some("guess")), ("someone", Some(keys::SSO_PROXY))] {
        let mut req = http.get(&page).header("x-remote-user", user);
        if let Some(k) = key {
            req = req.header("x-caseflow-proxy-key", k);
        }
        let res = req.send().await.expect("answers");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{user} {key:?}");
        assert!(res.headers().get(SET_COOKIE).is_none(), "no session for {user}");
    }

    // Signing out needs the session's CSRF token, and a form from this site.
    let logout = sandbox.url(Service::Reporting, "/console/logout");
    let res = http.post(&logout).header(COOKIE, &session).form(&[("csrf", "forged")]).send().await.expect("answers");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a forged token");
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_owned();
    let res = http
        .post(&logout)
        .header(COOKIE, &session)
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a post from another site");
    let res =
        http.post(&logout).header(COOKIE, &session).form(&[("csrf", csrf.as_str())]).send().await.expect("answers");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers()[SET_COOKIE].to_str().expect("text").contains("Max-Age=0"));
    let res = http.get(&page).header(COOKIE, &session).send().await.expect("answers");
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the session is gone");

    // A key of a role that has no console (the platform's integration) does not sign in.
    let res = http
        .post(sandbox.url(Service::Reporting, "/console/login"))
        .form(&[("key", keys::INTEGRATOR), ("next", "/console")])
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(SET_COOKIE).is_none());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_handler_reads_only_its_own_units_facts_through_the_api() {
    let sandbox = Sandbox::start().await;
    let q = "from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00&report=attachment-2&column=received";
    let (status, own) =
        sandbox.get_json(Service::Reporting, &format!("/v1/reports/cells?{q}&unit=chengguan"), keys::CHENGGUAN).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["count"], 0);
    for unit in ["&unit=zhujian", ""] {
        let (status, body) =
            sandbox.get_json(Service::Reporting, &format!("/v1/reports/cells?{q}{unit}"), keys::CHENGGUAN).await;
        assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("auth.unit")), "{unit}: {body}");
    }
    let (status, body) =
        sandbox.get_json(Service::Reporting, &format!("/v1/reports/cells?{q}&unit=chengguan"), keys::DISPATCHER).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = sandbox
        .get_json(Service::Reporting, "/v1/reports/cells?from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00&report=cases&column=due&unit=x", keys::OFFICE)
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["column", "source", "unit"], "each bad field named: {body}");
    sandbox.shutdown().await;
}
