//! Every REST endpoint of API v1 through the router (`tower::ServiceExt::oneshot`, no
//! network): statuses, error bodies and the authorization the engine applies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chat_http_adapter::RateLimit;
use common::*;
use serde_json::json;

#[tokio::test]
async fn create_session_201_and_the_errors_around_it() {
    let app = app();
    let alice = customer("alice");
    let reply = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some(&alice),
        Some(json!({"kind": "general", "title": "Hello"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["kind"], "general");
    assert_eq!(reply.body["status"], "open");
    assert_eq!(reply.body["customer_id"], "alice");
    assert_eq!(reply.body["tenant_id"], TENANT);

    let no_token = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"kind": "support"})),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.code(), "unauthorized");
    assert!(
        no_token.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );

    let bad_token = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some("nonsense"),
        Some(json!({"kind": "support"})),
    )
    .await;
    assert_eq!(bad_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad_token.code(), "unauthorized");

    let staff = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some(&agent("bob")),
        Some(json!({"kind": "support"})),
    )
    .await;
    assert_eq!(staff.status, StatusCode::FORBIDDEN);
    assert_eq!(staff.code(), "forbidden");

    let missing_kind = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some(&alice),
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(missing_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing_kind.code(), "invalid_input");

    let bad_kind = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some(&alice),
        Some(json!({"kind": "sales"})),
    )
    .await;
    assert_eq!(bad_kind.status, StatusCode::UNPROCESSABLE_ENTITY);

    let unknown_field = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some(&alice),
        Some(json!({"kind": "support", "owner": "x"})),
    )
    .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);

    let malformed = send(
        &app.router,
        Request::post("/api/v1/sessions")
            .header("authorization", format!("Bearer {alice}"))
            .header("content-type", "application/json")
            .body(Body::from("{\"kind\": "))
            .unwrap(),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.code(), "invalid_input");

    let not_json = send(
        &app.router,
        Request::post("/api/v1/sessions")
            .header("authorization", format!("Bearer {alice}"))
            .header("content-type", "text/plain")
            .body(Body::from("{\"kind\": \"support\"}"))
            .unwrap(),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(not_json.code(), "unsupported_media_type");

    let long_title = "t".repeat(500);
    let too_long = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some(&alice),
        Some(json!({"kind": "support", "title": long_title})),
    )
    .await;
    assert!(
        matches!(
            too_long.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{}",
        too_long.text
    );
}

#[tokio::test]
async fn json_bodies_over_the_limit_are_413() {
    let app = app_with(|c| c.max_json_body_bytes(1024));
    let big = "x".repeat(4096);
    let reply = call(
        &app.router,
        "POST",
        "/api/v1/sessions",
        Some(&customer("alice")),
        Some(json!({"kind": "support", "title": big})),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "too_large");
}

#[tokio::test]
async fn get_session_with_assignment_and_its_errors() {
    let app = app();
    let alice = customer("alice");
    let id = open_session(&app.router, &alice).await;

    let reply = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["id"], id.as_str());
    assert!(reply.body["assignment"].is_null());

    let other = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions/{id}"),
        Some(&customer("mallory")),
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);

    let missing = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions/{}", uuid::Uuid::now_v7()),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");

    let malformed = call(
        &app.router,
        "GET",
        "/api/v1/sessions/not-a-uuid",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.code(), "invalid_input");

    // Escalate, an agent comes online and is assigned: the session shows the assignment.
    let escalated = call(
        &app.router,
        "POST",
        &format!("/api/v1/sessions/{id}/escalate"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(escalated.status, StatusCode::OK, "{}", escalated.text);
    assert_eq!(escalated.body["status"], "waiting_for_agent");
    let online = call(
        &app.router,
        "PUT",
        "/api/v1/agents/me/availability",
        Some(&agent("bob")),
        Some(json!({"availability": "online"})),
    )
    .await;
    assert_eq!(online.status, StatusCode::OK, "{}", online.text);
    let reply = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(reply.body["status"], "assigned");
    assert_eq!(reply.body["assignment"]["agent_id"], "bob");
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let app = app();
    let reply = call(&app.router, "GET", "/api/v1/nothing", None, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "not_found");
}

#[tokio::test]
async fn list_sessions_is_scoped_filtered_and_paged() {
    let app = app();
    let alice = customer("alice");
    let carol = customer("carol");
    for _ in 0..3 {
        open_session(&app.router, &alice).await;
    }
    open_session(&app.router, &carol).await;

    let own = call(&app.router, "GET", "/api/v1/sessions", Some(&alice), None).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let sessions = own.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert!(sessions.iter().all(|s| s["customer_id"] == "alice"));

    let all = call(
        &app.router,
        "GET",
        "/api/v1/sessions?limit=2",
        Some(&manager("meg")),
        None,
    )
    .await;
    assert_eq!(all.body["sessions"].as_array().unwrap().len(), 2);
    let cursor = all.body["next_cursor"].as_str().unwrap();
    let rest = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions?limit=2&cursor={cursor}"),
        Some(&manager("meg")),
        None,
    )
    .await;
    assert_eq!(rest.body["sessions"].as_array().unwrap().len(), 2);

    let open = call(
        &app.router,
        "GET",
        "/api/v1/sessions?status=open&kind=support",
        Some(&manager("meg")),
        None,
    )
    .await;
    assert_eq!(open.body["sessions"].as_array().unwrap().len(), 4);
    let resolved = call(
        &app.router,
        "GET",
        "/api/v1/sessions?status=resolved",
        Some(&manager("meg")),
        None,
    )
    .await;
    assert!(resolved.body["sessions"].as_array().unwrap().is_empty());

    let bad = call(
        &app.router,
        "GET",
        "/api/v1/sessions?status=sleeping",
        Some(&manager("meg")),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_cursor = call(
        &app.router,
        "GET",
        "/api/v1/sessions?cursor=12",
        Some(&manager("meg")),
        None,
    )
    .await;
    assert_eq!(bad_cursor.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn post_message_is_idempotent_201_then_200() {
    let app = app();
    let alice = customer("alice");
    let id = open_session(&app.router, &alice).await;
    let path = format!("/api/v1/sessions/{id}/messages");
    let body = json!({"content": "My invoice is wrong", "client_msg_id": "m-1"});

    let first = call(&app.router, "POST", &path, Some(&alice), Some(body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.body["seq"], 1);
    assert_eq!(first.body["sender"], "customer");
    assert_eq!(first.body["client_msg_id"], "m-1");

    let retry = call(&app.router, "POST", &path, Some(&alice), Some(body)).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
    assert_eq!(retry.body["id"], first.body["id"]);

    let second = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"content": "Still wrong"})),
    )
    .await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.body["seq"], 2);

    let empty = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"content": "  "})),
    )
    .await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.text
    );
    let no_content = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"client_msg_id": "x"})),
    )
    .await;
    assert_eq!(no_content.status, StatusCode::UNPROCESSABLE_ENTITY);
    let huge = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"content": "x".repeat(20_000)})),
    )
    .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", huge.text);
    assert_eq!(huge.code(), "too_large");
    let intruder = call(
        &app.router,
        "POST",
        &path,
        Some(&customer("mallory")),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(intruder.status, StatusCode::FORBIDDEN);
    let missing = call(
        &app.router,
        "POST",
        &format!("/api/v1/sessions/{}/messages", uuid::Uuid::now_v7()),
        Some(&alice),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_messages_pages_after_seq() {
    let app = app();
    let alice = customer("alice");
    let id = open_session(&app.router, &alice).await;
    let path = format!("/api/v1/sessions/{id}/messages");
    for n in 1..=5 {
        let reply = call(
            &app.router,
            "POST",
            &path,
            Some(&alice),
            Some(json!({"content": format!("message {n}")})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let page = call(
        &app.router,
        "GET",
        &format!("{path}?after_seq=1&limit=3"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let seqs: Vec<u64> = page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert_eq!(page.body["next_after_seq"], 4);
    assert_eq!(page.body["has_more"], true);
    let last = call(
        &app.router,
        "GET",
        &format!("{path}?after_seq=4"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(last.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(last.body["has_more"], false);

    let bad = call(
        &app.router,
        "GET",
        &format!("{path}?after_seq=-1"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let other = call(&app.router, "GET", &path, Some(&customer("mallory")), None).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
}

fn multipart(token: &str, path: &str, field: &str, filename: &str, bytes: &[u8]) -> Request<Body> {
    let boundary = "XyZboundary42";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn upload_documents_202_then_200_list_and_get() {
    let app = app();
    let alice = customer("alice");
    let id = open_session(&app.router, &alice).await;
    let path = format!("/api/v1/sessions/{id}/documents");
    let text = b"# Refunds\n\nRefunds are processed within 5 business days.\n";

    let first = send(
        &app.router,
        multipart(&alice, &path, "file", "refunds.md", text),
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    assert_eq!(first.body["status"]["state"], "pending");
    assert_eq!(first.body["filename"], "refunds.md");
    assert_eq!(first.body["size"], text.len());

    let again = send(
        &app.router,
        multipart(&alice, &path, "file", "copy.md", text),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["id"], first.body["id"]);

    let list = call(&app.router, "GET", &path, Some(&alice), None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["documents"].as_array().unwrap().len(), 1);

    let doc_id = first.body["id"].as_str().unwrap();
    let one = call(
        &app.router,
        "GET",
        &format!("{path}/{doc_id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["id"], doc_id);

    let missing = call(
        &app.router,
        "GET",
        &format!("{path}/{}", uuid::Uuid::now_v7()),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let other = call(&app.router, "GET", &path, Some(&customer("mallory")), None).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let intruder = send(
        &app.router,
        multipart(&customer("mallory"), &path, "file", "x.txt", b"hello there"),
    )
    .await;
    assert_eq!(intruder.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn upload_limits_and_refusals() {
    let app = app_with(|c| c.max_upload_bytes(1000));
    let alice = customer("alice");
    let id = open_session(&app.router, &alice).await;
    let path = format!("/api/v1/sessions/{id}/documents");

    // Over the limit while streaming (no Content-Length to go by).
    let big = vec![b'a'; 5000];
    let mut request = multipart(&alice, &path, "file", "big.txt", &big);
    request.headers_mut().remove("content-length");
    let reply = send(&app.router, request).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "too_large");

    // Far over the limit by the declared length: refused before reading.
    let huge = vec![b'a'; 200_000];
    let reply = send(
        &app.router,
        multipart(&alice, &path, "file", "huge.txt", &huge),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);

    let not_multipart = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"file": "x"})),
    )
    .await;
    assert_eq!(
        not_multipart.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        not_multipart.text
    );
    assert_eq!(not_multipart.code(), "unsupported_media_type");

    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let image = send(
        &app.router,
        multipart(&alice, &path, "file", "photo.png", png),
    )
    .await;
    assert_eq!(
        image.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        image.text
    );

    let wrong_field = send(
        &app.router,
        multipart(&alice, &path, "attachment", "a.txt", b"hello"),
    )
    .await;
    assert_eq!(
        wrong_field.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong_field.text
    );

    let no_auth = send(
        &app.router,
        Request::post(&path)
            .header("content-type", "multipart/form-data; boundary=x")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(no_auth.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn submit_url_202_then_200_and_refusals() {
    let app = app();
    let alice = customer("alice");
    let id = open_session(&app.router, &alice).await;
    let page = axum::Router::new().route(
        "/guide",
        axum::routing::get(|| async {
            axum::response::Html("<html><head><title>Guide</title></head><body><main><h1>Guide</h1><p>Reset your password from the account page.</p></main></body></html>")
        }),
    );
    let addr = serve(page).await;
    let path = format!("/api/v1/sessions/{id}/urls");
    let url = format!("http://{addr}/guide");

    let first = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"url": url})),
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    assert_eq!(first.body["status"]["state"], "pending");
    assert_eq!(first.body["source_url"], url.as_str());
    let again = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"url": url})),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], first.body["id"]);

    let scheme = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"url": "ftp://files.example/x"})),
    )
    .await;
    assert_eq!(
        scheme.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        scheme.text
    );
    let private = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"url": "http://10.0.0.1/admin"})),
    )
    .await;
    assert_eq!(
        private.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        private.text
    );
    let long = format!("https://example.com/{}", "a".repeat(10_000));
    let too_long = call(
        &app.router,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"url": long})),
    )
    .await;
    assert_eq!(
        too_long.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_long.text
    );
    let intruder = call(
        &app.router,
        "POST",
        &path,
        Some(&customer("mallory")),
        Some(json!({"url": url})),
    )
    .await;
    assert_eq!(intruder.status, StatusCode::FORBIDDEN);

    // The fetch runs in the background against the loopback page and finishes.
    let doc = first.body["id"].as_str().unwrap().to_owned();
    let mut state = String::new();
    for _ in 0..100 {
        let reply = call(
            &app.router,
            "GET",
            &format!("/api/v1/sessions/{id}/documents/{doc}"),
            Some(&alice),
            None,
        )
        .await;
        state = reply.body["status"]["state"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if state == "ready" || state == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, "ready");
}

#[tokio::test]
async fn support_actions_assign_transfer_notes_resolve_handback() {
    let app = app();
    let alice = customer("alice");
    let bob = agent("bob");
    let dan = agent("dan");
    let meg = manager("meg");
    let id = open_session(&app.router, &alice).await;
    let base = format!("/api/v1/sessions/{id}");

    for token in [&bob, &dan] {
        let reply = call(
            &app.router,
            "PUT",
            "/api/v1/agents/me/availability",
            Some(token),
            Some(json!({"availability": "away", "max_concurrent": 3})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["availability"], "away");
        assert_eq!(reply.body["max_concurrent"], 3);
    }
    let customer_avail = call(
        &app.router,
        "PUT",
        "/api/v1/agents/me/availability",
        Some(&alice),
        Some(json!({"availability": "online"})),
    )
    .await;
    assert_eq!(customer_avail.status, StatusCode::FORBIDDEN);
    let bad_avail = call(
        &app.router,
        "PUT",
        "/api/v1/agents/me/availability",
        Some(&bob),
        Some(json!({"availability": "busy"})),
    )
    .await;
    assert_eq!(bad_avail.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_capacity = call(
        &app.router,
        "PUT",
        "/api/v1/agents/me/availability",
        Some(&bob),
        Some(json!({"availability": "online", "max_concurrent": 0})),
    )
    .await;
    assert_eq!(bad_capacity.status, StatusCode::UNPROCESSABLE_ENTITY);

    let escalated = call(
        &app.router,
        "POST",
        &format!("{base}/escalate"),
        Some(&alice),
        Some(json!({"reason": "I want a person"})),
    )
    .await;
    assert_eq!(escalated.status, StatusCode::OK, "{}", escalated.text);
    assert_eq!(escalated.body["status"], "waiting_for_agent");

    // Customers cannot assign; agents only themselves.
    let by_customer = call(
        &app.router,
        "POST",
        &format!("{base}/assign"),
        Some(&alice),
        Some(json!({"agent_id": "bob"})),
    )
    .await;
    assert_eq!(by_customer.status, StatusCode::FORBIDDEN);
    let other_agent = call(
        &app.router,
        "POST",
        &format!("{base}/assign"),
        Some(&bob),
        Some(json!({"agent_id": "dan"})),
    )
    .await;
    assert_eq!(other_agent.status, StatusCode::FORBIDDEN);
    let assigned = call(
        &app.router,
        "POST",
        &format!("{base}/assign"),
        Some(&bob),
        Some(json!({"agent_id": "bob"})),
    )
    .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.text);
    assert_eq!(assigned.body["agent_id"], "bob");
    let twice = call(
        &app.router,
        "POST",
        &format!("{base}/assign"),
        Some(&meg),
        Some(json!({"agent_id": "dan"})),
    )
    .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text);
    assert_eq!(twice.code(), "conflict");

    let note = call(
        &app.router,
        "POST",
        &format!("{base}/notes"),
        Some(&bob),
        Some(json!({"content": "Customer was double charged"})),
    )
    .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    assert_eq!(note.body["visibility"], "internal");
    let note_by_customer = call(
        &app.router,
        "POST",
        &format!("{base}/notes"),
        Some(&alice),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(note_by_customer.status, StatusCode::FORBIDDEN);

    let transferred = call(
        &app.router,
        "POST",
        &format!("{base}/transfer"),
        Some(&bob),
        Some(json!({"agent_id": "dan", "note": "Billing expert"})),
    )
    .await;
    assert_eq!(transferred.status, StatusCode::OK, "{}", transferred.text);
    assert_eq!(transferred.body["agent_id"], "dan");
    assert_eq!(transferred.body["kind"], "transfer");
    let not_holder = call(
        &app.router,
        "POST",
        &format!("{base}/transfer"),
        Some(&bob),
        Some(json!({"agent_id": "bob"})),
    )
    .await;
    assert_eq!(not_holder.status, StatusCode::FORBIDDEN);

    // The customer sees the assignment but not the staff note, nor the internal notes.
    let seen = call(&app.router, "GET", &base, Some(&alice), None).await;
    assert_eq!(seen.body["assignment"]["agent_id"], "dan");
    assert!(seen.body["assignment"]["note"].is_null(), "{}", seen.text);
    let staff_view = call(&app.router, "GET", &base, Some(&meg), None).await;
    assert_eq!(staff_view.body["assignment"]["note"], "Billing expert");
    let customer_messages = call(
        &app.router,
        "GET",
        &format!("{base}/messages"),
        Some(&alice),
        None,
    )
    .await;
    assert!(
        customer_messages.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["visibility"] == "public")
    );
    let staff_messages = call(
        &app.router,
        "GET",
        &format!("{base}/messages"),
        Some(&meg),
        None,
    )
    .await;
    assert!(
        staff_messages.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["visibility"] == "internal")
    );

    let handed = call(
        &app.router,
        "POST",
        &format!("{base}/handback"),
        Some(&dan),
        None,
    )
    .await;
    assert_eq!(handed.status, StatusCode::OK, "{}", handed.text);
    assert_eq!(handed.body["status"], "open");
    let handback_by_customer = call(
        &app.router,
        "POST",
        &format!("{base}/handback"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(handback_by_customer.status, StatusCode::FORBIDDEN);

    let resolved = call(
        &app.router,
        "POST",
        &format!("{base}/resolve"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.text);
    assert_eq!(resolved.body["status"], "resolved");
    let missing = call(
        &app.router,
        "POST",
        &format!("/api/v1/sessions/{}/resolve", uuid::Uuid::now_v7()),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let bad_escalate_body = send(
        &app.router,
        Request::post(format!("{base}/escalate"))
            .header("authorization", format!("Bearer {alice}"))
            .header("content-type", "application/json")
            .body(Body::from("{\"reason\": 5}"))
            .unwrap(),
    )
    .await;
    assert_eq!(bad_escalate_body.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text_body = send(
        &app.router,
        Request::post(format!("{base}/escalate"))
            .header("authorization", format!("Bearer {alice}"))
            .header("content-type", "text/plain")
            .body(Body::from("please"))
            .unwrap(),
    )
    .await;
    assert_eq!(text_body.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn rest_rate_limit_answers_429_with_retry_after() {
    let app = app_with(|c| c.rest_rate_limit(RateLimit::new(1, 3)));
    let alice = customer("alice");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let reply = call(&app.router, "GET", "/api/v1/sessions", Some(&alice), None).await;
        statuses.push(reply.status);
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.code(), "rate_limited");
            let after: u64 = reply.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&after), "Retry-After {after}");
        }
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    // Another principal has its own bucket.
    let other = call(
        &app.router,
        "GET",
        "/api/v1/sessions",
        Some(&customer("carol")),
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
}

#[tokio::test]
async fn healthz_metrics_and_openapi_need_no_token() {
    let app = app();
    let alice = customer("alice");
    open_session(&app.router, &alice).await;
    let _ = call(
        &app.router,
        "GET",
        "/api/v1/sessions/nope",
        Some(&alice),
        None,
    )
    .await;

    let health = call(&app.router, "GET", "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");

    let metrics = call(&app.router, "GET", "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(
        metrics.text.contains(
            r#"chat_http_requests_total{method="POST",route="/api/v1/sessions",status="201"} 1"#
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains(r#"route="/api/v1/sessions/{id}",status="422""#),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("chat_http_request_duration_seconds_bucket")
    );

    let spec = call(&app.router, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3."));
    assert!(spec.body["paths"]["/api/v1/sessions/{id}/messages"]["post"].is_object());

    app.shutdown.trigger();
    let draining = call(&app.router, "GET", "/healthz", None, None).await;
    assert_eq!(draining.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(draining.body["status"], "shutting_down");
}
