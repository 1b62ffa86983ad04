//! AI usage records (`ai_usage`) and their per-day aggregation (UTC days).

use async_trait::async_trait;
use chat_core::ids::TenantId;
use chat_core::model::{AiUsageRecord, UsageAggregate, UsageOutcome};
use chat_core::store::{StoreResult, UsageStore};
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::codec::{self, UuidKey, bound, count, get, int, opt_key, stored_time};
use crate::error::{PgError, PgResult};
use crate::store::PgStore;

async fn record(store: &PgStore, record: &AiUsageRecord) -> PgResult<()> {
    let client = store.client().await?;
    let inserted = codec::exec(
        &client,
        "INSERT INTO ai_usage (id, tenant_id, session_id, message_id, provider, model, prompt_tokens,
             completion_tokens, latency_ms, ttft_ms, outcome, error_kind, failover_count, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (id) DO NOTHING",
        &[
            &record.id.key(),
            &record.tenant_id.as_str(),
            &opt_key(record.session_id.as_ref()),
            &opt_key(record.message_id.as_ref()),
            &record.provider,
            &record.model,
            &i64::from(record.prompt_tokens),
            &i64::from(record.completion_tokens),
            &int(record.latency_ms)?,
            &record.ttft_ms.map(int).transpose()?,
            &record.outcome.as_str(),
            &record.error_kind,
            &i64::from(record.failover_count),
            &stored_time(record.created_at)?,
        ],
    )
    .await?;
    if inserted == 0 {
        return Err(PgError::conflict(format!(
            "usage record {} already exists",
            record.id
        )));
    }
    Ok(())
}

fn aggregate_from_row(row: &Row) -> PgResult<UsageAggregate> {
    Ok(UsageAggregate::new(
        get(row, "day")?,
        get::<String>(row, "provider")?,
        count(row, "calls")?,
        count(row, "errors")?,
        count(row, "prompt_tokens")?,
        count(row, "completion_tokens")?,
        get(row, "avg_latency_ms")?,
    ))
}

#[async_trait]
impl UsageStore for PgStore {
    async fn record_usage(&self, usage: AiUsageRecord) -> StoreResult<()> {
        self.run(|| record(self, &usage)).await
    }

    async fn usage_by_day(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageAggregate>> {
        let (from, to) = (bound(from), bound(to));
        self.run(|| async move {
            let client = self.client().await?;
            codec::all(
                &client,
                "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, provider, count(*) AS calls,
                     count(*) FILTER (WHERE outcome <> $4) AS errors,
                     sum(prompt_tokens)::bigint AS prompt_tokens,
                     sum(completion_tokens)::bigint AS completion_tokens,
                     avg(latency_ms)::float8 AS avg_latency_ms
                 FROM ai_usage WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
                 GROUP BY day, provider ORDER BY day, provider",
                &[
                    &tenant.as_str(),
                    &from,
                    &to,
                    &UsageOutcome::Success.as_str(),
                ],
                aggregate_from_row,
            )
            .await
        })
        .await
    }
}
