//! [`DevAuthenticator`]: unsigned development tokens `dev:<role>:<user_id>` in one tenant.
//! Anyone can mint them, so it is for examples, demos and tests only, never production.

use async_trait::async_trait;
use chat_core::{Principal, Role, TenantId, UserId};

use super::{AuthError, AuthRequest, Authenticator};

/// Prefix of a development token.
const PREFIX: &str = "dev:";

/// Accepts `dev:<role>:<user_id>` tokens (role `customer`, `agent`, `manager` or `admin`) as
/// that user in the authenticator's tenant. No signature: for development only.
#[derive(Debug, Clone)]
pub struct DevAuthenticator {
    tenant: TenantId,
}

impl DevAuthenticator {
    /// Accepts development tokens for `tenant`.
    pub fn new(tenant: TenantId) -> Self {
        tracing::warn!(tenant = %tenant, "development authentication is on: tokens are not signed");
        Self { tenant }
    }

    /// The tenant of every principal.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The token that authenticates as `user` with `role`.
    pub fn token(role: Role, user: &UserId) -> String {
        format!("{PREFIX}{}:{}", role.as_str(), user.as_str())
    }

    /// Parses a token.
    ///
    /// Errors: `InvalidCredentials` for anything but `dev:<role>:<user_id>`.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let invalid = || {
            AuthError::InvalidCredentials(
                "expected a development token dev:<role>:<user_id>".into(),
            )
        };
        let rest = token.strip_prefix(PREFIX).ok_or_else(invalid)?;
        let (role, user) = rest.split_once(':').ok_or_else(invalid)?;
        let role = Role::parse(role).ok_or_else(invalid)?;
        let user = UserId::new(user).map_err(|_| invalid())?;
        Ok(Principal::new(self.tenant.clone(), user, role))
    }
}

#[async_trait]
impl Authenticator for DevAuthenticator {
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Principal, AuthError> {
        let token = request.token.ok_or(AuthError::MissingCredentials)?;
        self.verify(token)
    }
}
