//! Who is calling, and what they may do (DESIGN section 12). The engine applies these rules on
//! every call; adapters only turn credentials into a [`Principal`].

mod policy;

pub use policy::{
    Action, can_manage_knowledge, can_post, can_see_internal, can_view_session, session_scope,
};

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// Role of a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// A customer of the host: sees only their own sessions.
    Customer,
    /// A support agent: sees sessions assigned to them and queued ones.
    Agent,
    /// A support manager: sees every session of the tenant.
    Manager,
    /// An administrator of the host: everything in the tenant, plus the knowledge base.
    Admin,
}

impl Role {
    /// The stable name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Agent => "agent",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Self::Customer),
            "agent" => Some(Self::Agent),
            "manager" => Some(Self::Manager),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
    /// Agents, managers and admins.
    pub fn is_staff(self) -> bool {
        !matches!(self, Self::Customer)
    }
}

/// The caller of an engine operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Principal {
    /// The tenant the caller acts in; every operation is confined to it.
    pub tenant_id: TenantId,
    /// The caller.
    pub user_id: UserId,
    /// The caller's role.
    pub role: Role,
}

impl Principal {
    /// Builds a principal.
    pub fn new(tenant_id: TenantId, user_id: UserId, role: Role) -> Self {
        Self {
            tenant_id,
            user_id,
            role,
        }
    }
    /// True for agents, managers and admins.
    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }
}
