//! Authentication through the router: JWT (HS256 and RS256 with expiry, audience and claims
//! checked), the Bearer scheme, where `?token=` is accepted, and tenant isolation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use chat_core::{Principal, Role, TenantId, UserId};
use chat_http_adapter::auth::JwtClaims;
use chat_http_adapter::{AuthError, DevAuthenticator, JwtAuthenticator};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
const AUDIENCE: &str = "chat-api";
const PRIVATE: &[u8] = include_bytes!("keys/test_rsa_private.pem");
const PUBLIC: &[u8] = include_bytes!("keys/test_rsa_public.pem");
const OTHER_PRIVATE: &[u8] = include_bytes!("keys/other_rsa_private.pem");

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn principal(tenant: &str, user: &str, role: Role) -> Principal {
    Principal::new(
        TenantId::new(tenant).unwrap(),
        UserId::new(user).unwrap(),
        role,
    )
}

fn hs256(claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn rs256(claims: &serde_json::Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(key).unwrap(),
    )
    .unwrap()
}

fn claims(tenant: &str, user: &str, role: &str) -> serde_json::Value {
    json!({"sub": user, "tenant": tenant, "role": role, "aud": AUDIENCE, "exp": now() + 600})
}

#[tokio::test]
async fn hs256_tokens_are_checked_for_signature_expiry_audience_and_claims() {
    let auth = Arc::new(JwtAuthenticator::hs256(SECRET, AUDIENCE).unwrap());
    let app = app_with_auth(auth, |c| c);
    let good = hs256(&claims("acme", "alice", "customer"));
    let id = open_session(&app.router, &good).await;
    let reply = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions/{id}"),
        Some(&good),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["tenant_id"], "acme");
    assert_eq!(reply.body["customer_id"], "alice");

    let mut expired = claims("acme", "alice", "customer");
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = claims("acme", "alice", "customer");
    wrong_audience["aud"] = json!("another-service");
    let mut no_audience = claims("acme", "alice", "customer");
    no_audience.as_object_mut().unwrap().remove("aud");
    let mut no_tenant = claims("acme", "alice", "customer");
    no_tenant.as_object_mut().unwrap().remove("tenant");
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("acme", "alice", "customer"),
        &EncodingKey::from_secret(b"another-secret-another-secret-0000"),
    )
    .unwrap();
    let cases = [
        ("expired", hs256(&expired), "expired"),
        ("wrong audience", hs256(&wrong_audience), "aud"),
        ("no audience", hs256(&no_audience), "aud"),
        ("no tenant", hs256(&no_tenant), "claims"),
        ("bad role", hs256(&claims("acme", "alice", "root")), "role"),
        (
            "bad user id",
            hs256(&claims("acme", " alice", "customer")),
            "sub",
        ),
        ("forged", forged, "signature"),
        (
            "RS256 token",
            rs256(&claims("acme", "alice", "customer"), PRIVATE),
            "algorithm",
        ),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
    ];
    for (name, token, hint) in cases {
        let reply = call(&app.router, "GET", "/api/v1/sessions", Some(&token), None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{name}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "unauthorized", "{name}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(hint), "{name}: {message}");
    }
}

#[tokio::test]
async fn rs256_tokens_need_the_issuers_key_and_issuer() {
    let auth = Arc::new(
        JwtAuthenticator::rs256_pem(PUBLIC, AUDIENCE)
            .unwrap()
            .issuer("https://id.example"),
    );
    let app = app_with_auth(auth, |c| c);
    let mut good = claims("acme", "meg", "manager");
    good["iss"] = json!("https://id.example");
    let reply = call(
        &app.router,
        "GET",
        "/api/v1/sessions",
        Some(&rs256(&good, PRIVATE)),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let other_key = call(
        &app.router,
        "GET",
        "/api/v1/sessions",
        Some(&rs256(&good, OTHER_PRIVATE)),
        None,
    )
    .await;
    assert_eq!(other_key.status, StatusCode::UNAUTHORIZED);
    let mut other_issuer = good.clone();
    other_issuer["iss"] = json!("https://evil.example");
    let reply = call(
        &app.router,
        "GET",
        "/api/v1/sessions",
        Some(&rs256(&other_issuer, PRIVATE)),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // The classic confusion: an HS256 token keyed with the public key must not pass.
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(PUBLIC),
    )
    .unwrap();
    let reply = call(
        &app.router,
        "GET",
        "/api/v1/sessions",
        Some(&confused),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn constructors_refuse_weak_or_bad_keys_and_claims_round_trip() {
    assert!(matches!(
        JwtAuthenticator::hs256(b"short", AUDIENCE),
        Err(AuthError::InvalidCredentials(_))
    ));
    assert!(
        JwtAuthenticator::rs256_pem(
            b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
            AUDIENCE
        )
        .is_err()
    );
    let auth = JwtAuthenticator::hs256(SECRET, AUDIENCE).unwrap();
    let who = principal("acme", "bob", Role::Agent);
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &JwtClaims::new(&who, AUDIENCE, now() + 60),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(auth.verify(&token).unwrap(), who);
    // No key material in Debug output.
    let debug = format!("{auth:?}");
    assert!(
        debug.contains("redacted") && !debug.contains("0123456789abcdef"),
        "{debug}"
    );
}

#[tokio::test]
async fn bearer_scheme_only_and_query_tokens_only_on_streaming_endpoints() {
    let app = app();
    let alice = customer("alice");
    let id = open_session(&app.router, &alice).await;

    let basic = common::send(
        &app.router,
        axum::http::Request::get("/api/v1/sessions")
            .header("authorization", "Basic YWxpY2U6cHc=")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert!(basic.text.contains("Bearer"));

    let token = alice.replace(':', "%3A");
    let rest = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions/{id}?token={token}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        rest.status,
        StatusCode::UNAUTHORIZED,
        "REST endpoints ignore ?token="
    );
    // The SSE stream never ends by itself: only look at the head.
    let response = tower::ServiceExt::oneshot(
        app.router.clone(),
        request(
            "GET",
            &format!("/api/v1/sessions/{id}/events?token={token}"),
            None,
            None,
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let auth = Arc::new(JwtAuthenticator::hs256(SECRET, AUDIENCE).unwrap());
    let app = app_with_auth(auth, |c| c);
    let acme_customer = hs256(&claims("acme", "alice", "customer"));
    let id = open_session(&app.router, &acme_customer).await;
    // Same user id and a manager role, but another tenant: the session does not exist there.
    for token in [
        hs256(&claims("globex", "alice", "customer")),
        hs256(&claims("globex", "meg", "admin")),
    ] {
        let reply = call(
            &app.router,
            "GET",
            &format!("/api/v1/sessions/{id}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
        let list = call(&app.router, "GET", "/api/v1/sessions", Some(&token), None).await;
        assert!(list.body["sessions"].as_array().unwrap().is_empty());
    }
}

#[test]
fn dev_tokens_round_trip_and_refuse_anything_else() {
    let dev = DevAuthenticator::new(TenantId::new("demo").unwrap());
    let who = principal("demo", "agent:7", Role::Agent);
    assert_eq!(
        dev.verify(&DevAuthenticator::token(Role::Agent, &who.user_id))
            .unwrap(),
        who
    );
    for bad in [
        "",
        "dev:",
        "dev:root:x",
        "dev:customer:",
        "jwt.like.token",
        "dev:customer: spaced",
    ] {
        assert!(dev.verify(bad).is_err(), "{bad:?}");
    }
}

/// A WebSocket or SSE stream opened with a token ends when the token expires: an
/// `unauthorized` error (frame or event), then the close (1008 for the WebSocket). The
/// expiry is the token's `exp` plus the leeway (0 here); `exp` counts whole seconds.
#[tokio::test]
async fn streams_end_when_their_token_expires() {
    use eventsource_stream::Eventsource;
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let auth = Arc::new(JwtAuthenticator::hs256(SECRET, AUDIENCE).unwrap().leeway(0));
    let app = app_with_auth(auth, |c| c);
    let lasting = hs256(&claims("acme", "alice", "customer"));
    let session = open_session(&app.router, &lasting).await;
    let addr = serve(app.router.clone()).await;
    let mut short = claims("acme", "alice", "customer");
    short["exp"] = json!(now() + 2);
    let short = hs256(&short);
    let started = std::time::Instant::now();
    let wait = std::time::Duration::from_secs(10);

    // WebSocket: joined, then cut at the expiry; a connection with a lasting token stays.
    let connect = |token: String| async move {
        let url = format!("ws://{addr}/api/v1/ws?token={token}");
        tokio_tungstenite::connect_async(url).await.unwrap().0
    };
    let mut expiring = connect(short.clone()).await;
    let mut lasting_ws = connect(lasting.clone()).await;
    let join = json!({"type": "join", "session_id": session, "after_seq": 0}).to_string();
    expiring.send(Message::text(join.clone())).await.unwrap();
    lasting_ws.send(Message::text(join)).await.unwrap();
    let mut frames = Vec::new();
    let close = loop {
        match tokio::time::timeout(wait, expiring.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                frames.push(serde_json::from_str::<serde_json::Value>(text.as_str()).unwrap())
            }
            Some(Ok(Message::Close(frame))) => break frame.unwrap(),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "token expired");
    assert_eq!(frames[0]["type"], "joined");
    let last = frames.last().unwrap();
    assert_eq!(
        (&last["type"], &last["code"]),
        (&json!("error"), &json!("unauthorized"))
    );
    lasting_ws
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(wait, lasting_ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) if text.as_str().contains("pong") => break text,
            Some(Ok(_)) => {}
            other => panic!("the lasting connection ended: {other:?}"),
        }
    };
    assert!(pong.as_str().contains("\"pong\""));

    // SSE: the stream ends with an `error` event once the token expires.
    let mut short = claims("acme", "alice", "customer");
    short["exp"] = json!(now() + 2);
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/sessions/{session}/events"))
        .bearer_auth(hs256(&short))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = Box::pin(response.bytes_stream().eventsource());
    let mut names = Vec::new();
    let mut last_data = String::new();
    while let Some(event) = tokio::time::timeout(wait, events.next()).await.unwrap() {
        let event = event.unwrap();
        names.push(event.event.clone());
        last_data = event.data;
    }
    assert_eq!(names.first().map(String::as_str), Some("joined"));
    assert_eq!(names.last().map(String::as_str), Some("error"));
    assert!(last_data.contains("\"unauthorized\""), "{last_data}");
}
