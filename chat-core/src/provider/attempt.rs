//! The record of one provider attempt within an answer: what the engine turns into an
//! [`AiUsageRecord`].

use std::time::Duration;

use crate::ids::{SessionId, TenantId};
use crate::model::{AiUsageRecord, TokenUsage, UsageOutcome};

/// One call of one provider while answering, as a routing provider (failover) reports it on
/// the stream with [`CompletionChunk::Attempt`](super::CompletionChunk::Attempt).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// Name of the provider called.
    pub provider: String,
    /// Model asked for (the request's, or the provider's default).
    pub model: String,
    /// 1-based number of this call within the answer (retries and failovers included).
    pub attempt: u32,
    /// How many times the answer moved on to another provider before this call.
    pub failover_index: u32,
    /// From the call to its end (success, error or cut).
    pub latency: Duration,
    /// From the call to the first text delta, when one arrived.
    pub ttft: Option<Duration>,
    /// How the call ended: `Success`, `Error` (no token) or `Incomplete` (tokens, then an error).
    pub outcome: UsageOutcome,
    /// [`ProviderError::kind_name`](super::ProviderError::kind_name) when it failed.
    pub error_kind: Option<String>,
    /// HTTP status of the failure, when it came from a response.
    pub status: Option<u16>,
    /// Token counts the provider reported (none for most failures).
    pub usage: Option<TokenUsage>,
    /// The provider called works without the network (the offline answerer): an answer it
    /// gave is labelled offline.
    pub offline: bool,
}

impl AttemptRecord {
    /// A successful attempt with no timing or usage yet.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            attempt: 1,
            failover_index: 0,
            latency: Duration::ZERO,
            ttft: None,
            outcome: UsageOutcome::Success,
            error_kind: None,
            status: None,
            usage: None,
            offline: false,
        }
    }

    /// The usage record of this attempt for `session` of `tenant` (fresh id, stamped now; the
    /// message id is left for the engine to set once the answer is stored).
    pub fn to_usage_record(
        &self,
        tenant_id: TenantId,
        session_id: Option<SessionId>,
    ) -> AiUsageRecord {
        let mut record = AiUsageRecord::new(tenant_id, self.provider.clone(), self.model.clone());
        record.session_id = session_id;
        if let Some(usage) = &self.usage {
            record.prompt_tokens = usage.prompt_tokens;
            record.completion_tokens = usage.completion_tokens;
        }
        record.latency_ms = duration_ms(self.latency);
        record.ttft_ms = self.ttft.map(duration_ms);
        record.outcome = self.outcome;
        record.error_kind = self.error_kind.clone();
        record.failover_count = self.failover_index;
        record
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_record_carries_every_field() {
        let mut attempt = AttemptRecord::new("openai", "gpt-4o-mini");
        attempt.failover_index = 2;
        attempt.latency = Duration::from_millis(1500);
        attempt.ttft = Some(Duration::from_millis(300));
        attempt.outcome = UsageOutcome::Incomplete;
        attempt.error_kind = Some("interrupted".into());
        attempt.usage = Some(TokenUsage::new(120, 40));
        let tenant = TenantId::new("acme").unwrap();
        let session = SessionId::new();
        let record = attempt.to_usage_record(tenant.clone(), Some(session));
        assert_eq!(record.tenant_id, tenant);
        assert_eq!(record.session_id, Some(session));
        assert_eq!(
            (record.provider.as_str(), record.model.as_str()),
            ("openai", "gpt-4o-mini")
        );
        assert_eq!((record.prompt_tokens, record.completion_tokens), (120, 40));
        assert_eq!((record.latency_ms, record.ttft_ms), (1500, Some(300)));
        assert_eq!(record.outcome, UsageOutcome::Incomplete);
        assert_eq!(record.error_kind.as_deref(), Some("interrupted"));
        assert_eq!(record.failover_count, 2);
    }
}
