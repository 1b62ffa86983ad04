//! AI answers. After a customer message in an AI-answered (`open`) session the engine builds the
//! context and the prompt, streams the provider's reply as `ai_delta` events, stores the answer
//! with its checked citations, confidence, usage and provider, and records the context sources.
//!
//! One answer per session at a time: a customer message that arrives while an answer streams is
//! not answered in parallel; when the running answer is stored, the engine looks again and
//! answers everything the customer wrote since (one more answer, not one per message). A
//! provider that hangs never leaves the session stuck: the first token, every following chunk
//! and the whole answer have deadlines ([`AnswerConfig`]); on expiry the answer ends with an error
//! and whatever text arrived is stored marked incomplete.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{ChatEngine, ChatResult, prompt};
use crate::bus::{ChatEvent, EventKind, Topic};
use crate::context::{ContextBudget, ContextQuery, PackedContext, fuse, parse_citations};
use crate::ids::{MessageId, SessionId, TenantId};
use crate::model::{
    AiUsageRecord, ChatMessage, ChatSession, Citation, ContextSourceRecord, MessageMetadata,
    NewMessage, SenderKind, SessionStatus, TokenUsage, UsageOutcome, Visibility,
};
use crate::provider::{
    AiSettings, AttemptRecord, CompletionChunk, CompletionRequest, ContextPassage, FinishReason,
    ProviderError, ResolvedAiSettings, SettingsProviderExt, TimeoutPhase, settings::resolve_layers,
};
use crate::store::MessageQuery;

/// Settings of the answer path. Defaults in brackets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnswerConfig {
    /// Recent messages read for the prompt [40].
    pub history_messages: u32,
    /// Token budget of the conversation in the prompt [2000].
    pub history_tokens: u32,
    /// Context budget (passages, tokens, fusion).
    pub context: ContextBudget,
    /// Time budget of all context sources together; late sources are left out [800 ms].
    #[serde(with = "duration_ms")]
    pub retrieval_timeout: Duration,
    /// Deadline for the provider's first token [90 s]. A backstop: a failover chain applies its
    /// own per-attempt deadlines and may try several providers within this one.
    #[serde(with = "duration_ms")]
    pub first_token_timeout: Duration,
    /// Deadline between two chunks [45 s].
    #[serde(with = "duration_ms")]
    pub idle_timeout: Duration,
    /// Deadline of the whole answer [300 s].
    #[serde(with = "duration_ms")]
    pub total_timeout: Duration,
    /// Longest answer kept, in bytes; the stream is cut there [32 KiB].
    pub max_answer_bytes: usize,
    /// Deadline of the host's settings lookup; on expiry the defaults apply [2 s].
    #[serde(with = "duration_ms")]
    pub settings_timeout: Duration,
    /// An answer claim lasts `total_timeout` plus this [30 s] (a node that died mid-answer
    /// blocks the session's answers at most that long).
    #[serde(with = "duration_ms")]
    pub claim_margin: Duration,
    /// How often a node waiting for another node's answer claim looks again [200 ms].
    #[serde(with = "duration_ms")]
    pub claim_poll: Duration,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            history_messages: 40,
            history_tokens: 2000,
            context: ContextBudget::default(),
            retrieval_timeout: Duration::from_millis(800),
            first_token_timeout: Duration::from_secs(90),
            idle_timeout: Duration::from_secs(45),
            total_timeout: Duration::from_secs(300),
            max_answer_bytes: 32 * 1024,
            settings_timeout: Duration::from_secs(2),
            claim_margin: Duration::from_secs(30),
            claim_poll: Duration::from_millis(200),
        }
    }
}

impl AnswerConfig {
    /// Sets the three provider deadlines.
    pub fn timeouts(mut self, first_token: Duration, idle: Duration, total: Duration) -> Self {
        self.first_token_timeout = first_token;
        self.idle_timeout = idle;
        self.total_timeout = total;
        self
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Sessions with an answer in progress; `true` when another one was asked for meanwhile.
#[derive(Debug, Default)]
pub(super) struct AnswerQueue {
    running: Mutex<HashMap<SessionId, bool>>,
}

impl AnswerQueue {
    /// Marks an answer as wanted; true when the caller must start the worker.
    fn request(&self, session: SessionId) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match running.get_mut(&session) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                running.insert(session, false);
                true
            }
        }
    }

    /// After an answer: true when another one was asked for (and clears the flag); otherwise
    /// releases the session.
    fn finish(&self, session: SessionId) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match running.get_mut(&session) {
            Some(again) if *again => {
                *again = false;
                true
            }
            _ => {
                running.remove(&session);
                false
            }
        }
    }

    /// Number of sessions with an answer in progress.
    pub(super) fn len(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Releases the session's queue slot even if the worker task is cancelled or panics.
struct SlotGuard {
    engine: ChatEngine,
    session: SessionId,
    armed: bool,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut running = self
                .engine
                .inner
                .answers
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            running.remove(&self.session);
        }
    }
}

/// How one answer ended.
enum Ending {
    Finished(FinishReason),
    Failed(ProviderError),
    Cut,
}

impl ChatEngine {
    /// Asks for an AI answer in a session (no-op without a provider). Returns at once; the answer
    /// is produced by a background task, one per session at a time.
    pub(crate) fn request_answer(&self, tenant: TenantId, session: SessionId) {
        if self.inner.provider.is_none() || !self.inner.answers.request(session) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let mut guard = SlotGuard {
                engine: engine.clone(),
                session,
                armed: true,
            };
            loop {
                // Across nodes, the store's answer claim keeps one answer per session at a time;
                // a node that waited answers what is still unanswered once it holds the claim.
                // One node (a store that is not multi-node): this queue is the whole guarantee.
                let shared = engine.store().capabilities().multi_node;
                if !shared || engine.claim_answer(&tenant, session).await {
                    if let Err(err) = engine.answer_once(&tenant, session).await {
                        tracing::warn!(session_id = %session, error = %err, "AI answer failed");
                    }
                    let owner = &engine.inner.node_id;
                    if shared {
                        if let Err(err) =
                            engine.store().release_answer(&tenant, session, owner).await
                        {
                            tracing::warn!(session_id = %session, error = %err, "answer claim not released; it expires");
                        }
                    }
                }
                if !engine.inner.answers.finish(session) {
                    break;
                }
            }
            guard.armed = false;
        });
    }

    /// Claims the session's answer for this node, waiting while another node holds it (at most
    /// the length of a claim: a node that died leaves a claim that expires). False when the
    /// claim could not be had (store failure, or still held after the wait).
    async fn claim_answer(&self, tenant: &TenantId, session: SessionId) -> bool {
        let config = &self.inner.answer_config;
        let lease = config.total_timeout + config.claim_margin;
        let give_up = tokio::time::Instant::now() + lease;
        loop {
            let now = chrono::Utc::now();
            // A lease too long to add (absurd settings) is capped at a day.
            let until = chrono::Duration::from_std(lease)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(now + chrono::Duration::days(1));
            match self
                .store()
                .claim_answer(tenant, session, &self.inner.node_id, now, until)
                .await
            {
                Ok(true) => return true,
                Ok(false) if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(config.claim_poll).await;
                }
                Ok(false) => {
                    tracing::warn!(session_id = %session, "another node kept the answer claim; not answering");
                    return false;
                }
                Err(err) => {
                    tracing::warn!(session_id = %session, error = %err, "answer claim failed");
                    return false;
                }
            }
        }
    }

    /// Number of sessions with an AI answer in progress.
    pub fn answers_in_progress(&self) -> usize {
        self.inner.answers.len()
    }

    #[tracing::instrument(level = "debug", skip(self), fields(session_id = %session_id))]
    async fn answer_once(&self, tenant: &TenantId, session_id: SessionId) -> ChatResult<()> {
        let Some(provider) = self.inner.provider.clone() else {
            return Ok(());
        };
        let config = &self.inner.answer_config;
        let store = self.store();
        let session = store.get_session(tenant, session_id).await?;
        if session.status != SessionStatus::Open {
            return Ok(());
        }
        let after = session
            .last_seq
            .saturating_sub(u64::from(config.history_messages));
        let query = MessageQuery::after(after, config.history_messages).include_internal(false);
        let recent = store.list_messages(tenant, session_id, query).await?;
        // Only customer messages after what the last answer took into account need one; what
        // a human agent answered (before handing the chat back) is answered too.
        let answered_through = recent
            .iter()
            .map(|m| match (m.sender, m.visibility) {
                (SenderKind::Agent, Visibility::Public) => m.seq,
                _ => m.metadata.reply_to_seq.unwrap_or(0),
            })
            .max()
            .unwrap_or(0);
        let since_answer: Vec<ChatMessage> = recent
            .iter()
            .filter(|m| m.sender == SenderKind::Customer && m.seq > answered_through)
            .cloned()
            .collect();
        let reply_to_seq = since_answer.last().map(|m| m.seq);
        if since_answer.is_empty() {
            return Ok(());
        }

        let settings = self.answer_settings(&session).await;
        let question = prompt::retrieval_query(&since_answer);
        let context = self.retrieve(&session, &question).await;
        let system = prompt::system_prompt(&settings.system_prompt, &context);
        let history = prompt::history(&recent, config.history_tokens);
        let passages = context
            .passages
            .iter()
            .map(|p| {
                ContextPassage::new(
                    p.index,
                    p.candidate.title.clone(),
                    p.candidate.text.clone(),
                    p.relevance,
                )
            })
            .collect();
        let request = settings.apply(CompletionRequest::new(system, history).passages(passages));

        let message_id = MessageId::new();
        let topic = Topic::session(tenant.clone(), session_id);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + config.total_timeout;
        let mut text = String::new();
        let mut usage: Option<TokenUsage> = None;
        let mut first_token: Option<Duration> = None;
        let mut attempts: Vec<AttemptRecord> = Vec::new();

        let ending = match tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + config.first_token_timeout),
            provider.stream(request),
        )
        .await
        {
            Err(_) => Ending::Failed(ProviderError::Timeout {
                phase: TimeoutPhase::FirstByte,
            }),
            Ok(Err(err)) => Ending::Failed(err),
            Ok(Ok(mut stream)) => loop {
                let wait = if first_token.is_none() {
                    config.first_token_timeout
                } else {
                    config.idle_timeout
                };
                let next = tokio::time::timeout_at(
                    deadline.min(tokio::time::Instant::now() + wait),
                    stream.next(),
                )
                .await;
                match next {
                    Err(_) => {
                        let phase = if tokio::time::Instant::now() >= deadline {
                            TimeoutPhase::Total
                        } else if first_token.is_none() {
                            TimeoutPhase::FirstByte
                        } else {
                            TimeoutPhase::BetweenChunks
                        };
                        break Ending::Failed(ProviderError::Timeout { phase });
                    }
                    Ok(None) => {
                        break Ending::Failed(ProviderError::Interrupted(
                            "stream ended without a finish".into(),
                        ));
                    }
                    Ok(Some(Err(err))) => break Ending::Failed(err),
                    Ok(Some(Ok(CompletionChunk::Usage(u)))) => usage = Some(u),
                    Ok(Some(Ok(CompletionChunk::Attempt(attempt)))) => attempts.push(attempt),
                    Ok(Some(Ok(CompletionChunk::Finish(reason)))) => {
                        break Ending::Finished(reason);
                    }
                    Ok(Some(Ok(CompletionChunk::Delta(delta)))) => {
                        if delta.is_empty() {
                            continue;
                        }
                        if first_token.is_none() {
                            first_token = Some(started.elapsed());
                        }
                        let room = config.max_answer_bytes.saturating_sub(text.len());
                        let delta = if delta.len() > room {
                            truncate(&delta, room)
                        } else {
                            delta
                        };
                        text.push_str(&delta);
                        let event = ChatEvent::ephemeral(
                            tenant.clone(),
                            session_id,
                            EventKind::AiDelta { message_id, delta },
                        );
                        self.publish(&topic, event).await;
                        if text.len() >= config.max_answer_bytes {
                            break Ending::Cut;
                        }
                    }
                }
            },
        };

        let latency = started.elapsed();
        // Inside a failover chain, the attempt that answered says whether it was the offline answerer.
        let offline = attempts
            .last()
            .map_or(provider.capabilities().offline, |a| a.offline);
        // A routing provider (failover chain) names the provider that answered in its last attempt.
        let (answered_by, model) = match attempts.last() {
            Some(last) => (last.provider.clone(), last.model.clone()),
            None => (
                provider.name().to_owned(),
                settings
                    .model
                    .clone()
                    .unwrap_or_else(|| provider.default_model().to_owned()),
            ),
        };
        let (outcome, error) = match &ending {
            Ending::Finished(_) | Ending::Cut => (UsageOutcome::Success, None),
            Ending::Failed(err) if text.is_empty() => (UsageOutcome::Error, Some(err)),
            Ending::Failed(err) => (UsageOutcome::Incomplete, Some(err)),
        };
        if let Some(err) = error {
            tracing::warn!(session_id = %session_id, kind = err.kind_name(), "AI provider failed");
        }

        let stored = if text.trim().is_empty() {
            // Nothing reached the customer: say so plainly, durably.
            let mut metadata = MessageMetadata {
                reply_to_seq,
                ..MessageMetadata::default()
            };
            metadata.extra.insert(
                "error".into(),
                serde_json::json!({ "code": error.map_or("empty_answer", |e| e.kind_name()) }),
            );
            let notice = NewMessage::new(
                tenant.clone(),
                session_id,
                SenderKind::System,
                None,
                "The assistant could not answer right now. Please try again, or ask for a human agent.",
            )
            .metadata(metadata);
            let inserted = store.append_message(notice).await?;
            self.publish(&topic, ChatEvent::durable(inserted.value.clone()))
                .await;
            None
        } else {
            let check = parse_citations(
                &text,
                u32::try_from(context.passages.len()).unwrap_or(u32::MAX),
            );
            let mut metadata = MessageMetadata {
                citations: citations(&context, &check.cited),
                confidence: Some(confidence(&context, &check.text, &check.cited, &ending)),
                provider: Some(answered_by.clone()),
                model: Some(model.clone()),
                usage,
                offline,
                incomplete: !matches!(ending, Ending::Finished(FinishReason::Stop)),
                reply_to_seq,
                ..MessageMetadata::default()
            };
            if let Ending::Failed(err) = &ending {
                metadata.extra.insert(
                    "error".into(),
                    serde_json::json!({ "code": err.kind_name(), "message": "the answer was interrupted" }),
                );
            }
            let mut new =
                NewMessage::new(tenant.clone(), session_id, SenderKind::Ai, None, check.text)
                    .metadata(metadata);
            new.id = message_id;
            let inserted = store.append_message(new).await?;
            let message = inserted.value;
            self.publish(&topic, ChatEvent::durable(message.clone()))
                .await;
            let records = context_records(&session, &message, &context, &check.cited);
            if !records.is_empty() {
                store.record_context_sources(tenant, records).await?;
            }
            Some(message)
        };

        let message_id = stored.as_ref().map(|m| m.id);
        let records: Vec<AiUsageRecord> = if attempts.is_empty() {
            let mut record = AiUsageRecord::new(tenant.clone(), answered_by, model);
            record.session_id = Some(session_id);
            record.message_id = message_id;
            record.prompt_tokens = usage.map_or(0, |u| u.prompt_tokens);
            record.completion_tokens = usage.map_or_else(
                || crate::text::estimate_tokens(&text),
                |u| u.completion_tokens,
            );
            record.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
            record.ttft_ms = first_token.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            record.outcome = outcome;
            record.error_kind = error.map(|e| e.kind_name().to_owned());
            vec![record]
        } else {
            let last = attempts.len() - 1;
            attempts
                .iter()
                .enumerate()
                .map(|(i, attempt)| {
                    let mut record = attempt.to_usage_record(tenant.clone(), Some(session_id));
                    if i == last {
                        record.message_id = message_id;
                    }
                    record
                })
                .collect()
        };
        for record in records {
            store.record_usage(record).await?;
        }
        Ok(())
    }

    /// The settings for an answer in this session: the host's, resolved now; on a settings
    /// failure (logged) the defaults.
    async fn answer_settings(&self, session: &ChatSession) -> ResolvedAiSettings {
        let defaults = &self.inner.settings_defaults;
        if let Some(settings) = &self.inner.settings {
            let lookup = settings.resolve(&session.tenant_id, session.kind, defaults);
            match tokio::time::timeout(self.inner.answer_config.settings_timeout, lookup).await {
                Ok(Ok(resolved)) => return resolved,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "AI settings unavailable; using the defaults")
                }
                Err(_) => tracing::warn!("AI settings lookup timed out; using the defaults"),
            }
        }
        match resolve_layers(None, &AiSettings::default(), session.kind, defaults) {
            Ok(resolved) => resolved,
            Err(err) => {
                tracing::warn!(error = %err, "invalid default AI settings; using built-in values");
                ResolvedAiSettings {
                    providers: Vec::new(),
                    model: None,
                    temperature: 0.2,
                    max_tokens: 1024,
                    system_prompt: match session.kind {
                        crate::model::SessionKind::General => {
                            crate::provider::settings::DEFAULT_GENERAL_PROMPT
                        }
                        _ => crate::provider::settings::DEFAULT_SUPPORT_PROMPT,
                    }
                    .to_owned(),
                }
            }
        }
    }

    /// Asks every context source serving the session's kind, in parallel, within the time budget;
    /// a failing or late source is left out.
    async fn retrieve(&self, session: &ChatSession, question: &str) -> PackedContext {
        let config = &self.inner.answer_config;
        let query = ContextQuery::new(
            session.tenant_id.clone(),
            session.id,
            session.kind,
            question,
        );
        let sources: Vec<_> = self
            .inner
            .context_sources
            .iter()
            .filter(|s| s.serves(session.kind))
            .cloned()
            .collect();
        let calls = sources.iter().map(|source| {
            let query = &query;
            async move {
                let result = tokio::time::timeout(config.retrieval_timeout, source.retrieve(query, config.context.per_source)).await;
                match result {
                    Ok(Ok(candidates)) => Some((source.weight(), candidates)),
                    Ok(Err(err)) => {
                        tracing::warn!(source = source.name(), error = %err, "context source failed");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(source = source.name(), "context source timed out");
                        None
                    }
                }
            }
        });
        let results: Vec<_> = futures::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect();
        fuse(results, &config.context)
    }
}

/// Cuts a string to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn citations(context: &PackedContext, cited: &[u32]) -> Vec<Citation> {
    cited
        .iter()
        .filter_map(|&n| context.get(n))
        .map(|p| {
            let c = &p.candidate;
            let snippet: String = c.text.chars().take(240).collect();
            Citation {
                index: p.index,
                source_kind: c.source_kind.clone(),
                source_id: c.source_id.clone(),
                title: c.title.clone(),
                locator: c.locator.clone(),
                url: c.url.clone(),
                snippet: Some(snippet),
                score: p.relevance,
            }
        })
        .collect()
}

/// Confidence in 0..=1 from retrieval strength (relevance of the cited passages), citation
/// coverage (share of sentences carrying a citation) and the provider's signal (a clean stop).
fn confidence(context: &PackedContext, text: &str, cited: &[u32], ending: &Ending) -> f32 {
    if context.passages.is_empty() || cited.is_empty() {
        return 0.1;
    }
    let strength: f32 = cited
        .iter()
        .filter_map(|&n| context.get(n))
        .map(|p| p.relevance)
        .sum::<f32>()
        / cited.len() as f32;
    let sentences: Vec<&str> = text
        .split_terminator(['.', '!', '?'])
        .filter(|s| s.trim().len() > 3)
        .collect();
    let with_citation = sentences.iter().filter(|s| s.contains('[')).count();
    let coverage = if sentences.is_empty() {
        0.0
    } else {
        with_citation as f32 / sentences.len() as f32
    };
    let clean = if matches!(ending, Ending::Finished(FinishReason::Stop)) {
        1.0
    } else {
        0.3
    };
    (0.45 * strength + 0.35 * coverage.min(1.0) + 0.2 * clean).clamp(0.0, 1.0)
}

fn context_records(
    session: &ChatSession,
    message: &ChatMessage,
    context: &PackedContext,
    cited: &[u32],
) -> Vec<ContextSourceRecord> {
    context
        .passages
        .iter()
        .map(|p| {
            let c = &p.candidate;
            let mut record = ContextSourceRecord::new(
                session.tenant_id.clone(),
                session.id,
                message.id,
                c.source_kind.clone(),
                c.source_id.clone(),
                c.title.clone(),
                p.relevance,
                p.index,
            );
            record.locator = c.locator.clone();
            record.cited = cited.contains(&p.index);
            record
        })
        .collect()
}
