//! The development login: `POST /api/v1/dev/login {"user_id", "role"}` -> `{"token"}`.
//!
//! It hands out [`DevAuthenticator`] tokens (unsigned `dev:<role>:<user_id>`) for customers,
//! agents and managers, so one person can play both sides of a support chat in two browser
//! tabs. The route exists only when the server runs with `--dev-auth` (the default); anyone who
//! can reach it can act as anyone, so it is for a laptop, never for the internet.

use axum::extract::rejection::JsonRejection;
use axum::routing::post;
use axum::{Json, Router};
use chat_core::{Role, UserId};
use chat_http_adapter::{ApiError, DevAuthenticator};
use serde::{Deserialize, Serialize};

/// The path of the login route.
pub const DEV_LOGIN_PATH: &str = "/api/v1/dev/login";

/// The login request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevLogin {
    /// Any user id (1 to 128 bytes, no control characters, no surrounding spaces).
    pub user_id: String,
    /// `customer`, `agent` or `manager`.
    pub role: String,
}

/// The login answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevToken {
    /// Send as `Authorization: Bearer <token>` (or `?token=` on the WebSocket).
    pub token: String,
}

/// The router holding the login route.
pub fn routes() -> Router {
    Router::new().route(DEV_LOGIN_PATH, post(login))
}

async fn login(body: Result<Json<DevLogin>, JsonRejection>) -> Result<Json<DevToken>, ApiError> {
    let Json(request) = body?;
    let role = match Role::parse(&request.role) {
        Some(role @ (Role::Customer | Role::Agent | Role::Manager)) => role,
        _ => {
            return Err(ApiError::invalid_input(
                "role must be \"customer\", \"agent\" or \"manager\"",
            ));
        }
    };
    let user = UserId::new(request.user_id)
        .map_err(|err| ApiError::invalid_input(format!("user_id: {err}")))?;
    Ok(Json(DevToken {
        token: DevAuthenticator::token(role, &user),
    }))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use chat_core::TenantId;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn post_login(body: &str, content_type: Option<&str>) -> (StatusCode, serde_json::Value) {
        let mut request = Request::post(DEV_LOGIN_PATH);
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let response = routes()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn each_demo_role_gets_a_token_the_dev_authenticator_accepts() {
        let auth = DevAuthenticator::new(TenantId::new("tasklane").unwrap());
        for role in ["customer", "agent", "manager"] {
            let (status, body) = post_login(
                &format!(r#"{{"user_id":"ana","role":"{role}"}}"#),
                Some("application/json"),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let principal = auth.verify(body["token"].as_str().unwrap()).unwrap();
            assert_eq!(principal.user_id.as_str(), "ana");
            assert_eq!(principal.role.as_str(), role);
            assert_eq!(principal.tenant_id.as_str(), "tasklane");
        }
    }

    #[tokio::test]
    async fn bad_requests_get_api_v1_errors() {
        for (body, ct, status, code) in [
            (
                r#"{"user_id":"ana","role":"admin"}"#,
                Some("application/json"),
                422,
                "invalid_input",
            ),
            (
                r#"{"user_id":"ana","role":"root"}"#,
                Some("application/json"),
                422,
                "invalid_input",
            ),
            (
                r#"{"user_id":"","role":"agent"}"#,
                Some("application/json"),
                422,
                "invalid_input",
            ),
            (
                r#"{"user_id":" ana","role":"agent"}"#,
                Some("application/json"),
                422,
                "invalid_input",
            ),
            (
                r#"{"role":"agent"}"#,
                Some("application/json"),
                422,
                "invalid_input",
            ),
            (
                r#"{"user_id":"ana","role":"agent""#,
                Some("application/json"),
                422,
                "invalid_input",
            ),
            (
                r#"{"user_id":"ana","role":"agent"}"#,
                None,
                415,
                "unsupported_media_type",
            ),
        ] {
            let (got, json) = post_login(body, ct).await;
            assert_eq!(got.as_u16(), status, "{body}");
            assert_eq!(json["error"]["code"], code, "{body}");
            assert!(
                json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }
}
