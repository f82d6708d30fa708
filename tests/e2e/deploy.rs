//! The deployment files checked against the code: every setting the compose and Kubernetes
//! files give a service is one the service accepts (an unknown key stops it at start-up, so a
//! typo would crash the pod), and every series a dashboard or an alert asks for is one the
//! services export.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use caseflow::Service;
use caseflow_runtime::config;
use caseflow_runtime::deployment::Deployment;
use caseflow_tests::{Sandbox, keys, order};
use serde_yaml::Value as Yaml;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// Starts a service's configuration as its binary would: the deployment file, then `env`. Panics
/// with the service's own words when it would refuse to start.
fn accepts(service: &str, file: &Path, env: &BTreeMap<String, String>, origin: &str) {
    let vars = env.iter().map(|(k, v)| (k.clone(), v.clone()));
    let deployment: Deployment =
        config::load(Some(file), vars).unwrap_or_else(|e| panic!("{origin}: {service} would not start: {e}"));
    let section = match service {
        "intake" => deployment.section::<caseflow_intake::IntakeConfig>("intake").map(|_| ()),
        "routing" => deployment.section::<caseflow_routing::RoutingConfig>("routing").map(|_| ()),
        "evaluation" => deployment.section::<caseflow_evaluation::EvaluationConfig>("evaluation").map(|_| ()),
        "reporting" => deployment.section::<caseflow_reporting::ReportingConfig>("reporting").map(|_| ()),
        other => panic!("{origin}: no service {other}"),
    };
    section.unwrap_or_else(|e| panic!("{origin}: {service} would not start: {e}"));
    deployment.key_store().unwrap_or_else(|e| panic!("{origin}: {service} would not start: {e}"));
    // The policy files it names are the ones the image holds (deploy/policy).
    let table = match service {
        "intake" => &deployment.intake,
        "routing" => &deployment.routing,
        "evaluation" => &deployment.evaluation,
        _ => &deployment.reporting,
    };
    for (key, value) in table.iter().filter(|(k, _)| k.ends_with("_file")) {
        let path = value.as_str().unwrap_or_default();
        let name = path.strip_prefix("/etc/caseflow/policy/").unwrap_or_else(|| panic!("{origin}: {key} = {path}"));
        assert!(repo("deploy/policy").join(name).is_file(), "{origin}: {key} names {path}, which the image lacks");
    }
}

#[test]
fn every_setting_the_compose_file_gives_a_service_is_one_it_accepts() {
    let compose = yaml("deploy/compose/compose.yaml");
    let file = repo("deploy/k8s/base/caseflow.toml");
    for service in Service::ALL.map(Service::name) {
        let spec = &compose["services"][service];
        let command: Vec<&str> =
            spec["command"].as_sequence().expect("a command").iter().filter_map(Yaml::as_str).collect();
        assert_eq!(command, [format!("caseflow-{service}").as_str(), "/etc/caseflow/caseflow.toml"]);
        let env: BTreeMap<String, String> = spec["environment"]
            .as_mapping()
            .expect("environment as a map")
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => panic!("compose {service}: {k:?} = {other:?}"),
                };
                (k.as_str().expect("a name").to_owned(), value)
            })
            .collect();
        assert!(env.contains_key(&format!("CASEFLOW__{}__DATABASE__URL", service.to_uppercase())));
        accepts(service, &file, &env, &format!("compose {service}"));
    }
}

/// `kubectl kustomize` of an overlay, as documents.
fn render(overlay: &str) -> Vec<Yaml> {
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", repo(overlay).to_str().expect("path")])
        .output()
        .expect("kubectl is installed (Debian's kubectl, or the binary from dl.k8s.io)");
    assert!(out.status.success(), "{overlay}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).expect("a document")).collect()
}

fn named<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn every_setting_the_kubernetes_manifests_give_a_service_is_one_it_accepts() {
    let docs = render("deploy/k8s/overlays/dev");
    let dir = tempfile::tempdir().expect("dir");
    let deployments: Vec<&Yaml> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    assert_eq!(deployments.len(), 4);
    let mut names_per_service = BTreeMap::new();
    for deployment in deployments {
        let service = deployment["metadata"]["name"].as_str().expect("a name");
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        // The deployment file is the ConfigMap the pod mounts.
        let config_map = pod["volumes"]
            .as_sequence()
            .expect("volumes")
            .iter()
            .find_map(|v| v["configMap"]["name"].as_str())
            .expect("a ConfigMap volume");
        let toml = named(&docs, "ConfigMap", config_map)["data"]["caseflow.toml"].as_str().expect("caseflow.toml");
        let file = dir.path().join(format!("{service}.toml"));
        std::fs::write(&file, toml).expect("write");
        let mut env = BTreeMap::new();
        for var in container["env"].as_sequence().expect("env") {
            let name = var["name"].as_str().expect("a name").to_owned();
            let value = if let Some(v) = var["value"].as_str() {
                v.to_owned()
            } else if let Some(r) = var["valueFrom"]["secretKeyRef"].as_mapping() {
                let secret = named(&docs, "Secret", r[&Yaml::from("name")].as_str().expect("name"));
                let data = secret["data"][r[&Yaml::from("key")].as_str().expect("key")].as_str().expect("data");
                let data: String = data.chars().filter(|c| !c.is_whitespace()).collect();
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data).expect("base64"))
                    .expect("UTF-8")
            } else if let Some(r) = var["valueFrom"]["configMapKeyRef"].as_mapping() {
                let map = named(&docs, "ConfigMap", r[&Yaml::from("name")].as_str().expect("name"));
                map["data"][r[&Yaml::from("key")].as_str().expect("key")].as_str().expect("value").to_owned()
            } else {
                panic!("kubernetes {service}: {name} has no value");
            };
            env.insert(name, value);
        }
        names_per_service.insert(service.to_owned(), env.keys().cloned().collect::<BTreeSet<_>>());
        accepts(service, &file, &env, &format!("kubernetes {service}"));
        let args: Vec<&str> = container["args"].as_sequence().expect("args").iter().filter_map(Yaml::as_str).collect();
        assert_eq!(args[0], format!("caseflow-{service}"));
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/health/readyz");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health/livez");
    }
    // Production sets the same variables (its Secrets are made out of band, so the values
    // cannot be read here, but the names are the ones checked above).
    for deployment in render("deploy/k8s/overlays/prod").iter().filter(|d| d["kind"] == "Deployment") {
        let service = deployment["metadata"]["name"].as_str().expect("a name");
        let names: BTreeSet<String> = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .expect("env")
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(Some(&names), names_per_service.get(service), "production sets what development does");
    }
}

/// Every `caseflow_…` name in `text`.
fn series_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("caseflow_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "expr" {
                    out.push(v.as_str().expect("an expr is text").to_owned());
                } else {
                    exprs(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_series_a_dashboard_or_an_alert_asks_for_is_one_the_services_export() {
    // What the services export once a case went through.
    let sandbox = Sandbox::start().await;
    let (status, body) = sandbox.post_order(Some(keys::INTEGRATOR), &order(3, &["chengguan"])).await;
    assert_eq!(status, 201, "{body}");
    sandbox
        .eventually("reporting to count the case", Duration::from_secs(10), || async {
            (sandbox.counted_dispatches().await == 1).then_some(())
        })
        .await;
    let mut exported = BTreeSet::new();
    for service in Service::ALL {
        let text = sandbox.http.get(sandbox.url(service, "/metrics")).send().await.expect("answers").text().await;
        exported.extend(series_names(&text.expect("text")));
    }
    sandbox.shutdown().await;

    let datasources = yaml("deploy/grafana/provisioning/datasources/datasources.yaml");
    let uids: BTreeSet<&str> = datasources["datasources"]
        .as_sequence()
        .expect("datasources")
        .iter()
        .filter_map(|d| d["uid"].as_str())
        .collect();
    let mut asked = Vec::new();
    for name in ["service.json", "district.json"] {
        let path = repo("deploy/grafana/dashboards").join(name);
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("a dashboard is JSON");
        let panels = dashboard["panels"].as_array().expect("panels");
        let ids: BTreeSet<i64> = panels.iter().filter_map(|p| p["id"].as_i64()).collect();
        assert_eq!(ids.len(), panels.len(), "{name}: panel ids are unique");
        for panel in panels {
            let uid = panel["datasource"]["uid"].as_str().expect("a data source");
            assert!(uids.contains(uid), "{name}: panel {} uses {uid}, which is not provisioned", panel["title"]);
        }
        assert!(panels.iter().any(|p| p["datasource"]["uid"] == "jaeger"), "{name}: the dashboard leads to the traces");
        // Links into Jaeger name a service as the services export their spans.
        let text = dashboard.to_string();
        for link in text.split("http://localhost:16686/search?").skip(1) {
            assert!(
                link.starts_with("service=caseflow-"),
                "{name}: a Jaeger link names a caseflow service: {link:.60}"
            );
        }
        let mut found = Vec::new();
        exprs(&dashboard, &mut found);
        assert!(!found.is_empty(), "{name} asks for nothing");
        asked.extend(found.into_iter().map(|e| (name.to_owned(), e)));
    }
    let alerts = yaml("deploy/prometheus/alerts.yml");
    let rules: Vec<&Yaml> = alerts["groups"][0]["rules"].as_sequence().expect("rules").iter().collect();
    for wanted in ["CaseflowConsumerLagging", "CaseflowServiceNotReady", "CaseflowErrorRate", "CaseflowOverdueRising"] {
        assert!(rules.iter().any(|r| r["alert"] == wanted), "alert {wanted}");
    }
    asked.extend(rules.iter().map(|r| ("alerts.yml".to_owned(), r["expr"].as_str().expect("expr").to_owned())));

    for (origin, expr) in &asked {
        let names = series_names(expr);
        assert!(!names.is_empty(), "{origin}: {expr} asks for no Caseflow series");
        for name in names {
            assert!(exported.contains(&name), "{origin} asks for {name}, which no service exports: {expr}");
        }
    }
}

#[test]
fn the_image_holds_the_five_binaries_the_policies_and_a_health_check_and_runs_as_no_root() {
    // No Docker daemon here: the Dockerfile is read, and what it names is checked to exist.
    let dockerfile = std::fs::read_to_string(repo("deploy/docker/Dockerfile")).expect("Dockerfile");
    let copied: Vec<&str> = dockerfile.split_whitespace().collect();
    for binary in ["caseflow", "caseflow-intake", "caseflow-routing", "caseflow-evaluation", "caseflow-reporting"] {
        assert!(copied.contains(&format!("target/release/{binary}").as_str()), "the image copies {binary}");
    }
    let manifests: Vec<String> = ["intake", "routing", "evaluation", "reporting"]
        .iter()
        .map(|s| std::fs::read_to_string(repo(&format!("services/{s}/Cargo.toml"))).expect("manifest"))
        .collect();
    for (service, manifest) in ["intake", "routing", "evaluation", "reporting"].iter().zip(&manifests) {
        assert!(manifest.contains(&format!("name = \"caseflow-{service}\"")), "a binary caseflow-{service} is built");
    }
    for copied in ["deploy/policy/", "deploy/k8s/base/caseflow.toml"] {
        assert!(dockerfile.contains(&format!("COPY {copied}")), "the image holds {copied}");
        assert!(repo(copied).exists(), "{copied} exists");
    }
    let user = dockerfile.lines().rev().find(|l| l.starts_with("USER ")).expect("a USER line");
    assert!(!user.contains("root") && !user.ends_with(" 0") && !user.contains(" 0:"), "runs as no root: {user}");
    assert!(dockerfile.contains(r#"HEALTHCHECK"#) && dockerfile.contains(r#"CMD ["caseflow", "probe"]"#));
    assert!(dockerfile.contains("cargo chef cook"), "dependencies are built in a layer of their own");
    // The bundled SQLite's compile options live in .cargo/config.toml: the dependencies' layer
    // is built with them, not without them and then again.
    let settings = dockerfile.find("COPY .cargo/ .cargo/").expect("the image build copies .cargo/");
    assert!(
        settings < dockerfile.find("cargo chef cook").unwrap_or(0),
        "the build settings come before the dependencies"
    );
    assert!(repo(".cargo/config.toml").exists(), ".cargo/config.toml exists");
}
