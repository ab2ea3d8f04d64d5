//! Breach-register support for the DPO page tests: a DPO account of the sender's organisation
//! with an `incidents` token, a message revoked as sent in error (which opens an incident), and
//! the register read through the API.
#![allow(dead_code)]

use sealpost_server::domain::{Role, Scope, accounts};
use serde_json::{Value, json};

use crate::support::server::{Sender, Server};

/// Creates a DPO in the organisation `council` (created by [`Sender::create`]) and returns a
/// token with the `incidents` and `read` scopes.
pub async fn dpo_token(server: &Server, address: &str) -> String {
    let svc = &server.services;
    let org = match accounts::org_by_name(svc, "council").await {
        Ok(o) => o,
        Err(_) => accounts::create_org(svc, "council", "test")
            .await
            .expect("organisation"),
    };
    let user = accounts::create_user(svc, &org.id, address, &[Role::Dpo], "test")
        .await
        .expect("DPO user");
    let (_, token) = accounts::issue_token(svc, &user.id, "test", &[Scope::Incidents, Scope::Read], None, "test")
        .await
        .expect("token");
    token.expose().to_owned()
}

/// `method path` with `token` and an optional JSON body; the status and the JSON answer.
pub async fn call(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, server.url(path))
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Revokes message `id` as sent in error (the whole message, now); returns the incident id.
pub async fn revoke_sent_in_error(server: &Server, sender: &Sender, id: &str) -> String {
    let (status, body) = call(
        server,
        &sender.token,
        reqwest::Method::POST,
        &format!("/api/v1/messages/{id}/revoke"),
        Some(json!({ "sent_in_error": true })),
    )
    .await;
    assert_eq!(status, 200, "revoke sent in error: {body}");
    body["incident_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no incident_id in {body}"))
        .to_owned()
}

/// The incident as the DPO reads it through the API.
pub async fn incident(server: &Server, token: &str, id: &str) -> Value {
    let (status, body) = call(
        server,
        token,
        reqwest::Method::GET,
        &format!("/api/v1/incidents/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "GET incident: {body}");
    body
}
