//! [`JwtAuthenticator`]: bearer JWTs signed with HS256 (shared secret) or RS256 (the issuer's
//! public key), with expiry and audience checked. The jsonwebtoken crate does the parsing,
//! signature check and standard-claim validation.

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use chat_core::{Principal, Role, TenantId, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use super::{AuthError, AuthRequest, Authenticated, Authenticator};

/// Shortest accepted HS256 secret, in bytes (RFC 7518 section 3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The claims the adapter expects, for hosts minting tokens (serialize it). An `aud` array
/// is accepted too when verifying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JwtClaims {
    /// The user id.
    pub sub: String,
    /// The tenant id.
    pub tenant: String,
    /// `customer`, `agent`, `manager` or `admin`.
    pub role: String,
    /// Audience; must contain the configured one.
    pub aud: String,
    /// Expiry (seconds since the Unix epoch).
    pub exp: u64,
    /// Issuer, checked when the authenticator is given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

impl JwtClaims {
    /// Claims for a principal, for the audience, expiring at `exp`.
    pub fn new(principal: &Principal, audience: impl Into<String>, exp: u64) -> Self {
        Self {
            sub: principal.user_id.as_str().to_owned(),
            tenant: principal.tenant_id.as_str().to_owned(),
            role: principal.role.as_str().to_owned(),
            aud: audience.into(),
            exp,
            iss: None,
        }
    }
}

/// Validates bearer JWTs: signature (HS256 or RS256, the algorithm fixed by the constructor,
/// never taken from the token), `exp` (with a leeway, default 30 s), `aud`, optionally `iss`,
/// and the claims `sub`, `tenant` and `role`.
#[derive(Clone)]
pub struct JwtAuthenticator {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("algorithms", &self.validation.algorithms)
            .field("audience", &self.validation.aud)
            .field("issuer", &self.validation.iss)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Default clock-skew allowance for `exp`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

impl JwtAuthenticator {
    /// HS256 with a shared secret, for tokens whose `aud` contains `audience`.
    ///
    /// Errors: `InvalidCredentials` when the secret is shorter than
    /// [`MIN_HS256_SECRET_BYTES`].
    pub fn hs256(secret: &[u8], audience: &str) -> Result<Self, AuthError> {
        if secret.len() < MIN_HS256_SECRET_BYTES {
            return Err(AuthError::InvalidCredentials(format!(
                "the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes"
            )));
        }
        Ok(Self::with_key(
            DecodingKey::from_secret(secret),
            Algorithm::HS256,
            audience,
        ))
    }

    /// RS256 with the issuer's RSA public key in PEM, for tokens whose `aud` contains
    /// `audience`.
    ///
    /// Errors: `InvalidCredentials` when the PEM is not an RSA public key.
    pub fn rs256_pem(public_key_pem: &[u8], audience: &str) -> Result<Self, AuthError> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)
            .map_err(|e| AuthError::InvalidCredentials(format!("bad RSA public key: {e}")))?;
        Ok(Self::with_key(key, Algorithm::RS256, audience))
    }

    fn with_key(key: DecodingKey, algorithm: Algorithm, audience: &str) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = DEFAULT_LEEWAY_SECS;
        Self { key, validation }
    }

    /// Also requires `iss` to be this issuer.
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.validation.set_issuer(&[issuer]);
        self.validation.required_spec_claims.insert("iss".into());
        self
    }

    /// Sets the clock-skew allowance for `exp`, in seconds.
    pub fn leeway(mut self, secs: u64) -> Self {
        self.validation.leeway = secs;
        self
    }

    /// Validates a token and returns its principal.
    ///
    /// Errors: `InvalidCredentials` (bad signature, expired, wrong audience or issuer, bad or
    /// missing claims).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        Ok(self.verify_with_expiry(token)?.principal)
    }

    /// Like [`verify`](Self::verify), with the token's expiry (`exp` plus the leeway the
    /// validation allows), for streams that must end when the token does.
    ///
    /// Errors: as `verify`.
    pub fn verify_with_expiry(&self, token: &str) -> Result<Authenticated, AuthError> {
        let data = jsonwebtoken::decode::<IdentityClaims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::InvalidCredentials(describe(e.kind())))?;
        let claims = data.claims;
        let invalid = |what: &str| AuthError::InvalidCredentials(format!("bad {what} claim"));
        let tenant = TenantId::new(claims.tenant).map_err(|_| invalid("tenant"))?;
        let user = UserId::new(claims.sub).map_err(|_| invalid("sub"))?;
        let role = Role::parse(&claims.role).ok_or_else(|| invalid("role"))?;
        let authenticated = Authenticated::new(Principal::new(tenant, user, role));
        // `exp` is required by the validation; a value too large for SystemTime means "never".
        let expiry = claims.exp.and_then(|exp| {
            UNIX_EPOCH.checked_add(Duration::from_secs(
                exp.saturating_add(self.validation.leeway),
            ))
        });
        Ok(match expiry {
            Some(at) => authenticated.expires_at(at),
            None => authenticated,
        })
    }
}

/// The claims read after validation (the standard ones are checked by jsonwebtoken).
#[derive(Deserialize)]
struct IdentityClaims {
    sub: String,
    tenant: String,
    role: String,
    exp: Option<u64>,
}

/// A short reason, without echoing token contents.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::InvalidAudience => "the token is not for this service (aud)".into(),
        ErrorKind::InvalidIssuer => "the token has another issuer".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm => "unexpected signing algorithm".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        ErrorKind::InvalidClaimFormat(claim) => format!("bad claim {claim}"),
        ErrorKind::Json(_) => "bad or missing claims (sub, tenant, role)".into(),
        _ => "malformed token".into(),
    }
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Principal, AuthError> {
        let token = request.token.ok_or(AuthError::MissingCredentials)?;
        self.verify(token)
    }

    async fn authenticate_stream(
        &self,
        request: AuthRequest<'_>,
    ) -> Result<Authenticated, AuthError> {
        let token = request.token.ok_or(AuthError::MissingCredentials)?;
        self.verify_with_expiry(token)
    }
}
