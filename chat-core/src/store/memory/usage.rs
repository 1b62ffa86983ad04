//! [`UsageStore`] of the in-memory store: records and their daily aggregates.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ids::TenantId;
use crate::model::{AiUsageRecord, UsageAggregate};
use crate::store::{StoreError, StoreResult, UsageStore};

#[async_trait]
impl UsageStore for MemoryStore {
    async fn record_usage(&self, record: AiUsageRecord) -> StoreResult<()> {
        let mut state = self.write();
        let data = state.tenant_mut(&record.tenant_id);
        if data.usage.iter().any(|r| r.id == record.id) {
            return Err(StoreError::Conflict(format!(
                "usage record {} already exists",
                record.id
            )));
        }
        data.usage.push(record);
        Ok(())
    }

    async fn usage_by_day(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageAggregate>> {
        #[derive(Default)]
        struct Sums {
            calls: u64,
            errors: u64,
            prompt: u64,
            completion: u64,
            latency: u128,
        }
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let mut groups: BTreeMap<(chrono::NaiveDate, String), Sums> = BTreeMap::new();
        for record in data
            .usage
            .iter()
            .filter(|r| r.created_at >= from && r.created_at < to)
        {
            let sums = groups
                .entry((record.created_at.date_naive(), record.provider.clone()))
                .or_default();
            sums.calls += 1;
            if record.outcome != crate::model::UsageOutcome::Success {
                sums.errors += 1;
            }
            sums.prompt += u64::from(record.prompt_tokens);
            sums.completion += u64::from(record.completion_tokens);
            sums.latency += u128::from(record.latency_ms);
        }
        Ok(groups
            .into_iter()
            .map(|((day, provider), s)| {
                #[allow(clippy::cast_precision_loss)] // a mean latency needs no more than 52 bits
                let avg = s.latency as f64 / s.calls as f64;
                UsageAggregate::new(
                    day,
                    provider,
                    s.calls,
                    s.errors,
                    s.prompt,
                    s.completion,
                    avg,
                )
            })
            .collect())
    }
}
