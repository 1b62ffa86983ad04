//! Conformance cases of [`UsageStore`](crate::store::UsageStore).

use std::sync::Arc;

use chrono::NaiveDate;

use super::{at, tenant};
use crate::ids::{MessageId, SessionId, TenantId};
use crate::model::{AiUsageRecord, UsageOutcome};
use crate::store::ChatStore;

const DAY: i64 = 86_400;

fn record(
    t: &TenantId,
    provider: &str,
    secs: i64,
    tokens: (u32, u32),
    latency_ms: u64,
    outcome: UsageOutcome,
) -> AiUsageRecord {
    let mut record = AiUsageRecord::new(t.clone(), provider, "model-x");
    record.created_at = at(secs);
    record.prompt_tokens = tokens.0;
    record.completion_tokens = tokens.1;
    record.latency_ms = latency_ms;
    record.outcome = outcome;
    record.session_id = Some(SessionId::new());
    record.message_id = Some(MessageId::new());
    record.ttft_ms = Some(latency_ms / 4);
    if outcome != UsageOutcome::Success {
        record.error_kind = Some("timeout".into());
        record.failover_count = 1;
    }
    record
}

/// Usage sums per UTC day and provider over `[from, to)`, ordered by day then provider, with
/// error counts and mean latency; other tenants' records never count.
pub async fn usage_by_day(store: Arc<dyn ChatStore>) {
    let t = tenant("t-usage");
    let ok = UsageOutcome::Success;
    let records = [
        record(&t, "openai", 10, (100, 20), 1000, ok),
        record(&t, "openai", 3600, (300, 40), 2000, UsageOutcome::Error),
        record(&t, "anthropic", 7200, (50, 5), 500, ok),
        record(
            &t,
            "openai",
            DAY - 1,
            (1, 1),
            3000,
            UsageOutcome::Incomplete,
        ),
        record(&t, "openai", DAY, (10, 10), 100, ok),
        record(&t, "anthropic", 2 * DAY + 5, (7, 3), 700, ok),
        record(&t, "openai", -1, (999, 999), 9, ok),
        record(&t, "openai", 3 * DAY, (999, 999), 9, ok),
    ];
    for r in &records {
        store.record_usage(r.clone()).await.unwrap();
    }
    store
        .record_usage(record(
            &tenant("t-usage-other"),
            "openai",
            20,
            (5000, 5000),
            1,
            ok,
        ))
        .await
        .unwrap();

    let rows = store.usage_by_day(&t, at(0), at(3 * DAY)).await.unwrap();
    let day = |d: u32| NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    let got: Vec<(NaiveDate, &str, u64, u64, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r.day,
                r.provider.as_str(),
                r.calls,
                r.errors,
                r.prompt_tokens,
                r.completion_tokens,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (day(1), "anthropic", 1, 0, 50, 5),
            (day(1), "openai", 3, 2, 401, 61),
            (day(2), "openai", 1, 0, 10, 10),
            (day(3), "anthropic", 1, 0, 7, 3),
        ]
    );
    let latencies: Vec<f64> = rows.iter().map(|r| r.avg_latency_ms).collect();
    for (got, want) in latencies.iter().zip([500.0, 2000.0, 100.0, 700.0]) {
        assert!((got - want).abs() < 1e-6, "mean latency {got} != {want}");
    }
    assert_eq!(
        store
            .usage_by_day(&t, at(DAY), at(DAY + 1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .usage_by_day(&t, at(10), at(10))
            .await
            .unwrap()
            .is_empty(),
        "an empty range"
    );
    assert!(
        store
            .usage_by_day(&tenant("t-usage-nobody"), at(-DAY), at(9 * DAY))
            .await
            .unwrap()
            .is_empty()
    );
    let other = store
        .usage_by_day(&tenant("t-usage-other"), at(0), at(DAY))
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!((other[0].calls, other[0].prompt_tokens), (1, 5000));
}
