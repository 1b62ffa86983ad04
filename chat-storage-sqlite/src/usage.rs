//! AI usage records (`ai_usage`) and their per-day aggregation.

use async_trait::async_trait;
use chat_core::ids::TenantId;
use chat_core::model::{AiUsageRecord, UsageAggregate, UsageOutcome};
use chat_core::store::{StoreResult, UsageStore};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};

use crate::codec::{UuidKey, bound_nanos, int, nanos, opt_key};
use crate::error::{SqliteError, SqliteResult};
use crate::query;
use crate::store::SqliteStore;

/// Nanoseconds in a UTC day (times are stored as nanoseconds since the epoch).
const NANOS_PER_DAY: i64 = 86_400_000_000_000;

fn record(conn: &Connection, record: &AiUsageRecord) -> SqliteResult<()> {
    if query::id_taken(conn, "ai_usage", record.id.key())? {
        return Err(SqliteError::conflict(format!(
            "usage record {} already exists",
            record.id
        )));
    }
    conn.prepare_cached(
        "INSERT INTO ai_usage (id, tenant_id, session_id, message_id, provider, model, prompt_tokens,
             completion_tokens, latency_ms, ttft_ms, outcome, error_kind, failover_count, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        record.id.key(),
        record.tenant_id.as_str(),
        opt_key(record.session_id.as_ref()),
        opt_key(record.message_id.as_ref()),
        record.provider,
        record.model,
        record.prompt_tokens,
        record.completion_tokens,
        int(record.latency_ms)?,
        record.ttft_ms.map(int).transpose()?,
        record.outcome.as_str(),
        record.error_kind,
        record.failover_count,
        nanos(record.created_at)?,
    ])?;
    Ok(())
}

fn by_day(
    conn: &Connection,
    tenant: &TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SqliteResult<Vec<UsageAggregate>> {
    // Day index rounded towards minus infinity, also before 1970 (SQLite's `/` truncates).
    let sql = format!(
        "SELECT CASE WHEN created_at >= 0 THEN created_at / {d} ELSE (created_at - {d} + 1) / {d} END AS day,
             provider, count(*), sum(outcome <> ?4), sum(prompt_tokens), sum(completion_tokens), avg(latency_ms)
         FROM ai_usage WHERE tenant_id = ?1 AND created_at >= ?2 AND created_at < ?3
         GROUP BY day, provider ORDER BY day, provider",
        d = NANOS_PER_DAY
    );
    let rows = query::all(
        conn,
        &sql,
        params![
            tenant.as_str(),
            bound_nanos(from),
            bound_nanos(to),
            UsageOutcome::Success.as_str()
        ],
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, f64>(6)?,
            ))
        },
    )?;
    let epoch = DateTime::<Utc>::UNIX_EPOCH.date_naive();
    rows.into_iter()
        .map(
            |(day, provider, calls, errors, prompt, completion, latency)| {
                let day: NaiveDate = epoch
                    .checked_add_signed(chrono::Duration::days(day))
                    .ok_or_else(|| SqliteError::invalid(format!("day {day} is out of range")))?;
                let unsigned = |v: i64| {
                    u64::try_from(v).map_err(|_| SqliteError::invalid("negative usage sum"))
                };
                Ok(UsageAggregate::new(
                    day,
                    provider,
                    unsigned(calls)?,
                    unsigned(errors)?,
                    unsigned(prompt)?,
                    unsigned(completion)?,
                    latency,
                ))
            },
        )
        .collect()
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record_usage(&self, usage: AiUsageRecord) -> StoreResult<()> {
        self.write(move |conn| record(conn, &usage)).await
    }

    async fn usage_by_day(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageAggregate>> {
        let tenant = tenant.clone();
        self.read(move |conn| by_day(conn, &tenant, from, to)).await
    }
}
