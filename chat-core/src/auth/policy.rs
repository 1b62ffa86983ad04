//! The authorization rules, as pure functions of the principal and the record.

use super::{Principal, Role};
use crate::model::{ChatSession, SessionScope, SessionStatus, Visibility};

/// What a principal wants to do with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Read the session, its messages and documents, or subscribe to it.
    View,
    /// Post a public message, upload a document, submit a URL.
    Post,
    /// Post an internal note.
    PostInternal,
    /// Assign, transfer, resolve (support actions).
    Manage,
}

/// Whether the principal may see the session at all. Sessions of another tenant are never
/// visible; customers see their own; agents the ones assigned to them and the queued ones;
/// managers and admins every session of their tenant.
pub fn can_view_session(principal: &Principal, session: &ChatSession) -> bool {
    if principal.tenant_id != session.tenant_id {
        return false;
    }
    match principal.role {
        Role::Customer => session.customer_id == principal.user_id,
        Role::Agent => {
            session.assigned_agent.as_ref() == Some(&principal.user_id)
                || session.status == SessionStatus::WaitingForAgent
        }
        Role::Manager | Role::Admin => true,
    }
}

/// Whether the principal may post a message with this visibility. Customers post public
/// messages to their own sessions; agents post to sessions assigned to them (internal notes also
/// to queued ones they can see); managers and admins anywhere in the tenant. Nobody posts to a
/// closed session.
pub fn can_post(principal: &Principal, session: &ChatSession, visibility: Visibility) -> bool {
    if !can_view_session(principal, session) || session.status == SessionStatus::Closed {
        return false;
    }
    match (principal.role, visibility) {
        (Role::Customer, Visibility::Public) => true,
        (Role::Customer, Visibility::Internal) => false,
        (Role::Agent, Visibility::Public) => {
            session.assigned_agent.as_ref() == Some(&principal.user_id)
        }
        (Role::Agent, Visibility::Internal) => true,
        (Role::Manager | Role::Admin, _) => true,
    }
}

/// Whether internal notes reach this principal.
pub fn can_see_internal(principal: &Principal) -> bool {
    principal.is_staff()
}

/// Whether the principal may change the knowledge base and FAQ.
pub fn can_manage_knowledge(principal: &Principal) -> bool {
    matches!(principal.role, Role::Manager | Role::Admin)
}

/// The listing scope of a principal.
pub fn session_scope(principal: &Principal) -> SessionScope {
    match principal.role {
        Role::Customer => SessionScope::Customer(principal.user_id.clone()),
        Role::Agent => SessionScope::Agent(principal.user_id.clone()),
        Role::Manager | Role::Admin => SessionScope::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};
    use crate::model::{NewSession, SessionKind};

    fn session(
        tenant: &str,
        customer: &str,
        status: SessionStatus,
        agent: Option<&str>,
    ) -> ChatSession {
        let new = NewSession::new(
            TenantId::new(tenant).unwrap(),
            SessionKind::Support,
            UserId::new(customer).unwrap(),
        );
        ChatSession {
            id: new.id,
            tenant_id: new.tenant_id,
            kind: new.kind,
            status,
            customer_id: new.customer_id,
            title: None,
            assigned_agent: agent.map(|a| UserId::new(a).unwrap()),
            last_seq: 0,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            metadata: Default::default(),
        }
    }

    fn who(tenant: &str, user: &str, role: Role) -> Principal {
        Principal::new(
            TenantId::new(tenant).unwrap(),
            UserId::new(user).unwrap(),
            role,
        )
    }

    #[test]
    fn matrix() {
        let open = session("t1", "alice", SessionStatus::Open, None);
        let queued = session("t1", "alice", SessionStatus::WaitingForAgent, None);
        let held = session("t1", "alice", SessionStatus::Assigned, Some("agent1"));
        let closed = session("t1", "alice", SessionStatus::Closed, None);

        let alice = who("t1", "alice", Role::Customer);
        let bob = who("t1", "bob", Role::Customer);
        let agent1 = who("t1", "agent1", Role::Agent);
        let agent2 = who("t1", "agent2", Role::Agent);
        let manager = who("t1", "boss", Role::Manager);
        let other_tenant_admin = who("t2", "root", Role::Admin);

        assert!(can_view_session(&alice, &open));
        assert!(!can_view_session(&bob, &open));
        assert!(!can_view_session(&agent1, &open));
        assert!(can_view_session(&agent1, &queued));
        assert!(can_view_session(&agent1, &held));
        assert!(!can_view_session(&agent2, &held));
        assert!(can_view_session(&manager, &held));
        assert!(!can_view_session(&other_tenant_admin, &open));

        assert!(can_post(&alice, &open, Visibility::Public));
        assert!(!can_post(&alice, &open, Visibility::Internal));
        assert!(!can_post(&alice, &closed, Visibility::Public));
        assert!(!can_post(&bob, &open, Visibility::Public));
        assert!(can_post(&agent1, &held, Visibility::Public));
        assert!(!can_post(&agent1, &queued, Visibility::Public));
        assert!(can_post(&agent1, &queued, Visibility::Internal));
        assert!(!can_post(&agent2, &held, Visibility::Internal));
        assert!(can_post(&manager, &held, Visibility::Internal));
        assert!(!can_post(&other_tenant_admin, &held, Visibility::Public));

        assert!(!can_see_internal(&alice));
        assert!(can_see_internal(&agent1));
        assert!(can_manage_knowledge(&manager));
        assert!(!can_manage_knowledge(&agent1));
        assert_eq!(
            session_scope(&alice),
            SessionScope::Customer(alice.user_id.clone())
        );
    }
}
