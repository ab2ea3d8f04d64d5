//! The OpenAPI document (`docs/openapi.json`, served at `/api/v1/openapi.json`) against the router:
//! every route documented and nothing else, a success and the authentication failure on every
//! operation that needs a token, path parameters declared, and every `$ref` resolvable.

use std::collections::BTreeSet;

use serde_json::Value;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/// Operations that need no token.
const PUBLIC: [(&str, &str); 8] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/log"),
    ("get", "/api/v1/log/inclusion"),
    ("get", "/api/v1/log/consistency"),
    ("get", "/.well-known/sealpost/checkpoint"),
    ("get", "/.well-known/sealpost/log-key"),
];
/// Recipient operations take no API token: some need no credential, the others a recipient
/// session (`recipientSession`, `Authorization: Bearer spa_…`).
const RECIPIENT_PREFIX: &str = "/api/v1/access/";
const SESSION_SCHEME: &str = "recipientSession";

fn load() -> Value {
    let text = std::fs::read_to_string(DOC_PATH).expect("docs/openapi.json is readable");
    assert_eq!(
        text,
        sealpost_server::http::OPENAPI,
        "the served document is docs/openapi.json"
    );
    serde_json::from_str(&text).expect("docs/openapi.json is valid JSON")
}

/// Every `(method, path)` operation of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    out.push((method.to_owned(), path.clone(), op));
                }
            }
        }
    }
    out
}

fn routes() -> BTreeSet<(String, String)> {
    sealpost_server::http::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

/// (a) the document's operations are exactly the router's.
fn route_problems(doc: &Value) -> Vec<String> {
    let routes = routes();
    let documented: BTreeSet<(String, String)> = operations(doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let mut problems = Vec::new();
    for (m, p) in routes.difference(&documented) {
        problems.push(format!("route {} {p} is not documented", m.to_uppercase()));
    }
    for (m, p) in documented.difference(&routes) {
        problems.push(format!(
            "documented operation {} {p} is not in ROUTES",
            m.to_uppercase()
        ));
    }
    problems
}

/// Whether an operation needs a token (its own `security`, else the document's).
fn authenticated(doc: &Value, op: &Value) -> bool {
    let security = op.get("security").unwrap_or(&doc["security"]);
    security
        .as_array()
        .is_some_and(|reqs| !reqs.is_empty() && reqs.iter().all(|r| r.as_object().is_some_and(|o| !o.is_empty())))
}

/// The scheme names of every security requirement of an operation (its own, else the document's).
fn schemes(doc: &Value, op: &Value) -> BTreeSet<String> {
    let security = op.get("security").unwrap_or(&doc["security"]);
    security
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().cloned())
        .collect()
}

/// (b) responses: a 2xx everywhere, 401 wherever a token is needed; security where it belongs;
/// path parameters declared; unique operation ids.
fn response_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(doc) {
        let name = format!("{} {path}", method.to_uppercase());
        let responses = op["responses"].as_object();
        let Some(responses) = responses else {
            problems.push(format!("{name}: no responses"));
            continue;
        };
        if !responses.keys().any(|k| k.starts_with('2') && k.len() == 3) {
            problems.push(format!("{name}: no 2xx response"));
        }
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        let authed = authenticated(doc, op);
        if path.starts_with(RECIPIENT_PREFIX) {
            // No API token; a recipient session, required or optional, or nothing.
            let used = schemes(doc, op);
            if used.iter().any(|s| s != SESSION_SCHEME) {
                problems.push(format!("{name}: a recipient operation takes no API token"));
            }
            if used.contains(SESSION_SCHEME) && !responses.contains_key("401") {
                problems.push(format!("{name}: takes a recipient session but does not document 401"));
            }
        } else {
            if public && authed {
                problems.push(format!("{name}: must not require a token"));
            }
            if !public && !authed {
                problems.push(format!("{name}: must require the bearer token"));
            }
            if authed && !responses.contains_key("401") {
                problems.push(format!("{name}: authenticated but does not document 401"));
            }
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let resolved = resolve_ref(doc, response).unwrap_or(response);
                let content = &resolved["content"];
                // /readyz answers 503 with its JSON status; every other error is a problem.
                if content.get("application/problem+json").is_none() && !(path == "/readyz" && status == "503") {
                    problems.push(format!("{name}: {status} is not application/problem+json"));
                }
            }
        }
        if let Some(id) = op["operationId"].as_str()
            && !ids.insert(id.to_owned())
        {
            problems.push(format!("{name}: operationId {id} is used twice"));
        }
        // Path parameters: declared exactly as the template names them.
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let mut declared = BTreeSet::new();
        let path_level = doc["paths"][path.as_str()]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for param in path_level
            .iter()
            .chain(op["parameters"].as_array().into_iter().flatten())
        {
            let param = resolve_ref(doc, param).unwrap_or(param);
            if param["in"] == "path" {
                declared.insert(param["name"].as_str().unwrap_or_default().to_owned());
                if param["required"] != true {
                    problems.push(format!("{name}: path parameter {} must be required", param["name"]));
                }
            }
        }
        if declared != in_template {
            problems.push(format!(
                "{name}: path parameters {declared:?} differ from the template's {in_template:?}"
            ));
        }
    }
    if doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] != "bearer" {
        problems.push("components.securitySchemes.bearerAuth is not an HTTP bearer scheme".into());
    }
    if doc["components"]["securitySchemes"][SESSION_SCHEME]["scheme"] != "bearer" {
        problems.push(format!(
            "components.securitySchemes.{SESSION_SCHEME} is not an HTTP bearer scheme"
        ));
    }
    problems
}

/// The target of a local `$ref`, if `value` is one and it resolves.
fn resolve_ref<'a>(doc: &'a Value, value: &Value) -> Option<&'a Value> {
    let target = value.get("$ref")?.as_str()?;
    doc.pointer(target.strip_prefix('#')?)
}

/// (c) every `$ref` points into `#/components/` and resolves.
fn ref_problems(doc: &Value) -> Vec<String> {
    fn walk(doc: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(target) = map.get("$ref") {
                    match target.as_str() {
                        Some(t) if t.starts_with("#/components/") => {
                            if doc.pointer(&t[1..]).is_none() {
                                problems.push(format!("{at}: $ref {t} does not resolve"));
                            }
                        }
                        _ => problems.push(format!("{at}: $ref {target} is not a local component")),
                    }
                }
                for (k, v) in map {
                    walk(
                        doc,
                        v,
                        &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        problems,
                    );
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(doc, v, &format!("{at}/{i}"), problems);
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    walk(doc, doc, "#", &mut problems);
    problems
}

fn all_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if doc["openapi"] != "3.1.0" {
        problems.push(format!("openapi is {}, not 3.1.0", doc["openapi"]));
    }
    if doc["info"]["title"] != "Sealpost API" || !doc["info"]["version"].is_string() {
        problems.push("info.title / info.version missing".into());
    }
    if doc["components"]["schemas"]["Problem"].is_null() {
        problems.push("components.schemas.Problem is missing".into());
    }
    problems.extend(route_problems(doc));
    problems.extend(response_problems(doc));
    problems.extend(ref_problems(doc));
    problems
}

#[test]
fn routes_are_unique() {
    let routes = sealpost_server::http::ROUTES;
    assert_eq!(
        routes.len(),
        routes.iter().collect::<BTreeSet<_>>().len(),
        "ROUTES lists a route twice"
    );
}

#[test]
fn document_matches_the_router() {
    let doc = load();
    let problems = all_problems(&doc);
    assert!(
        problems.is_empty(),
        "docs/openapi.json is out of date:\n  {}",
        problems.join("\n  ")
    );
}

/// The checks above can fail: each kind of drift is reported.
#[test]
fn checks_detect_drift() {
    let doc = load();

    // A route without documentation (an operation removed from the document).
    let mut missing = doc.clone();
    missing["paths"]["/api/v1/messages/{id}/events"]
        .as_object_mut()
        .unwrap()
        .remove("get");
    assert!(
        route_problems(&missing)
            .iter()
            .any(|p| p.contains("GET /api/v1/messages/{id}/events is not documented"))
    );

    // An operation the router does not have.
    let mut extra = doc.clone();
    extra["paths"]["/api/v1/messages/{id}/events"]["post"] =
        doc["paths"]["/api/v1/messages/{id}/events"]["get"].clone();
    assert!(
        route_problems(&extra)
            .iter()
            .any(|p| p.contains("POST /api/v1/messages/{id}/events is not in ROUTES"))
    );

    // An authenticated operation without 401, and one without any 2xx.
    let mut no401 = doc.clone();
    no401["paths"]["/api/v1/me"]["get"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("401");
    assert!(
        response_problems(&no401)
            .iter()
            .any(|p| p.contains("GET /api/v1/me: authenticated but does not document 401"))
    );
    let mut no2xx = doc.clone();
    no2xx["paths"]["/healthz"]["get"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("200");
    assert!(
        response_problems(&no2xx)
            .iter()
            .any(|p| p.contains("GET /healthz: no 2xx response"))
    );

    // A public endpoint made to need a token, and an API endpoint made public.
    let mut secured = doc.clone();
    secured["paths"]["/readyz"]["get"]
        .as_object_mut()
        .unwrap()
        .remove("security");
    assert!(
        response_problems(&secured)
            .iter()
            .any(|p| p.contains("GET /readyz: must not require a token"))
    );
    let mut opened = doc.clone();
    opened["paths"]["/api/v1/me"]["get"]["security"] = serde_json::json!([]);
    assert!(
        response_problems(&opened)
            .iter()
            .any(|p| p.contains("GET /api/v1/me: must require the bearer token"))
    );

    // An undeclared path parameter.
    let mut params = doc.clone();
    params["paths"]["/api/v1/messages/{id}/events"]["get"]["parameters"] = serde_json::json!([]);
    assert!(response_problems(&params).iter().any(|p| p.contains("path parameters")));

    // A dangling reference.
    let mut dangling = doc.clone();
    dangling["components"]["schemas"]
        .as_object_mut()
        .unwrap()
        .remove("EventInfo");
    assert!(
        ref_problems(&dangling)
            .iter()
            .any(|p| p.contains("#/components/schemas/EventInfo does not resolve"))
    );

    // A recipient operation that asks for an API token, and a session operation without 401.
    let mut token = doc.clone();
    token["paths"]["/api/v1/access/{access_id}"]["get"]["security"] = serde_json::json!([{ "bearerAuth": [] }]);
    assert!(
        response_problems(&token)
            .iter()
            .any(|p| p.contains("GET /api/v1/access/{access_id}: a recipient operation takes no API token"))
    );
    let mut session401 = doc.clone();
    session401["paths"]["/api/v1/access/{access_id}/envelope"]["get"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("401");
    assert!(response_problems(&session401).iter().any(|p| {
        p.contains("GET /api/v1/access/{access_id}/envelope: takes a recipient session but does not document 401")
    }));

    // Every mutation is also caught by the combined check.
    for broken in [
        &missing,
        &extra,
        &no401,
        &no2xx,
        &secured,
        &opened,
        &params,
        &dangling,
        &token,
        &session401,
    ] {
        assert!(!all_problems(broken).is_empty());
    }
}
