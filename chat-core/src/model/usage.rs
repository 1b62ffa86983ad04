//! AI usage records and their aggregates.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, SessionId, TenantId, UsageId};

/// How a provider call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UsageOutcome {
    /// Completed.
    Success,
    /// Failed before any token.
    Error,
    /// Stopped after some tokens.
    Incomplete,
}

impl UsageOutcome {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Incomplete => "incomplete",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "error" => Some(Self::Error),
            "incomplete" => Some(Self::Incomplete),
            _ => None,
        }
    }
}

/// One provider call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AiUsageRecord {
    /// Id.
    pub id: UsageId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session answered.
    pub session_id: Option<SessionId>,
    /// The AI message produced.
    pub message_id: Option<MessageId>,
    /// Provider name.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
    /// Total latency in milliseconds.
    pub latency_ms: u64,
    /// Time to first token in milliseconds.
    pub ttft_ms: Option<u64>,
    /// Outcome.
    pub outcome: UsageOutcome,
    /// Error kind when not successful.
    pub error_kind: Option<String>,
    /// How many providers were tried before this one in the same answer.
    pub failover_count: u32,
    /// Time of the call.
    pub created_at: DateTime<Utc>,
}

impl AiUsageRecord {
    /// A successful record with a fresh id, stamped now.
    pub fn new(tenant_id: TenantId, provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            id: UsageId::new(),
            tenant_id,
            session_id: None,
            message_id: None,
            provider: provider.into(),
            model: model.into(),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: 0,
            ttft_ms: None,
            outcome: UsageOutcome::Success,
            error_kind: None,
            failover_count: 0,
            created_at: Utc::now(),
        }
    }
}

/// Usage summed per day (UTC) and provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UsageAggregate {
    /// The day.
    pub day: NaiveDate,
    /// Provider name.
    pub provider: String,
    /// Number of calls.
    pub calls: u64,
    /// Calls that did not succeed.
    pub errors: u64,
    /// Sum of prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of completion tokens.
    pub completion_tokens: u64,
    /// Mean latency in milliseconds.
    pub avg_latency_ms: f64,
}

impl UsageAggregate {
    /// Builds an aggregate row.
    pub fn new(
        day: NaiveDate,
        provider: String,
        calls: u64,
        errors: u64,
        prompt_tokens: u64,
        completion_tokens: u64,
        avg_latency_ms: f64,
    ) -> Self {
        Self {
            day,
            provider,
            calls,
            errors,
            prompt_tokens,
            completion_tokens,
            avg_latency_ms,
        }
    }
}
