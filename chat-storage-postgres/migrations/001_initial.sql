-- 001_initial: every table of the chat engine, its hot-path indexes and the full-text indexes.
-- The same tables and indexes as chat-storage-sqlite's 001_initial, in PostgreSQL types.
--
-- Conventions:
-- - ids created by the engine are UUIDs; host ids (tenant, user) are TEXT;
-- - times are TIMESTAMPTZ (microseconds; the store truncates its own clock readings to match);
-- - structured values are JSONB of the matching chat-core type;
-- - counts are BIGINT (a u32 does not fit INTEGER);
-- - every table has tenant_id, and every query filters on it.
-- Runs with search_path set to the store's schema (created just before, in the same transaction).

-- Full-text configuration: English stemming, with diacritics folded by the unaccent filtering
-- dictionary first, so "cafe" finds "café" and "refund" finds "Refunds". unaccent is an
-- extension (installed once per database, in its own schema); the store makes sure it exists
-- before this runs, and this block finds the schema it lives in.
CREATE TEXT SEARCH CONFIGURATION chat_search (COPY = pg_catalog.english);
DO $$
DECLARE
    ext_schema TEXT;
BEGIN
    SELECT n.nspname INTO ext_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'unaccent';
    IF ext_schema IS NULL THEN
        RAISE EXCEPTION 'the unaccent extension is not installed';
    END IF;
    EXECUTE format(
        'ALTER TEXT SEARCH CONFIGURATION chat_search ALTER MAPPING FOR hword, hword_part, word '
        'WITH %I.unaccent, pg_catalog.english_stem', ext_schema);
    EXECUTE format(
        'ALTER TEXT SEARCH CONFIGURATION chat_search ALTER MAPPING FOR numword, numhword, hword_numpart '
        'WITH %I.unaccent, pg_catalog.simple', ext_schema);
END
$$;

-- OR of text-search queries, so that a list of plain terms becomes one query without ever
-- parsing user text as tsquery syntax.
CREATE AGGREGATE chat_tsquery_or (tsquery) (SFUNC = pg_catalog.tsquery_or, STYPE = tsquery);

CREATE TABLE chat_sessions (
    id             UUID PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    title          TEXT,
    assigned_agent TEXT,
    last_seq       BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    metadata       JSONB NOT NULL DEFAULT '{}'
);
-- Listings are newest first (id order, UUID v7) within a tenant.
CREATE INDEX chat_sessions_tenant ON chat_sessions (tenant_id, id);
CREATE INDEX chat_sessions_customer ON chat_sessions (tenant_id, customer_id, id);
CREATE INDEX chat_sessions_status_kind ON chat_sessions (tenant_id, status, kind, id);
CREATE INDEX chat_sessions_assigned ON chat_sessions (tenant_id, assigned_agent, id)
    WHERE assigned_agent IS NOT NULL;
CREATE INDEX chat_sessions_updated ON chat_sessions (tenant_id, updated_at);

CREATE TABLE chat_messages (
    id            UUID PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    session_id    UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    sender        TEXT NOT NULL,
    sender_id     TEXT,
    visibility    TEXT NOT NULL,
    content       TEXT NOT NULL,
    metadata      JSONB NOT NULL,
    client_msg_id TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX chat_messages_session_seq ON chat_messages (session_id, seq);
CREATE UNIQUE INDEX chat_messages_client_msg ON chat_messages (session_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

CREATE TABLE chat_context_sources (
    id          UUID PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    session_id  UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    message_id  UUID NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    source_kind TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    title       TEXT NOT NULL,
    locator     JSONB,
    score       REAL NOT NULL,
    rank        BIGINT NOT NULL,
    cited       BOOLEAN NOT NULL
);
CREATE INDEX chat_context_sources_message ON chat_context_sources (message_id, rank);
CREATE INDEX chat_context_sources_session ON chat_context_sources (session_id);

CREATE TABLE chat_documents (
    id          UUID PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    session_id  UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    filename    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    source_url  TEXT,
    blob_key    TEXT,
    state       TEXT NOT NULL,
    status      JSONB NOT NULL,
    page_count  BIGINT,
    chunk_count BIGINT NOT NULL DEFAULT 0,
    warnings    JSONB NOT NULL DEFAULT '[]',
    metadata    JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX chat_documents_session_sha ON chat_documents (session_id, sha256);

-- search_len: words in the text (BM25's document length), written with the row.
CREATE TABLE chat_document_chunks (
    id          UUID PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    session_id  UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    document_id UUID NOT NULL REFERENCES chat_documents (id) ON DELETE CASCADE,
    ordinal     BIGINT NOT NULL,
    text        TEXT NOT NULL,
    locator     JSONB,
    token_count BIGINT NOT NULL,
    search_len  INTEGER NOT NULL,
    search      TSVECTOR GENERATED ALWAYS AS (to_tsvector('chat_search', text)) STORED
);
CREATE UNIQUE INDEX chat_document_chunks_document ON chat_document_chunks (document_id, ordinal);
CREATE INDEX chat_document_chunks_session ON chat_document_chunks (session_id) INCLUDE (search_len);
CREATE INDEX chat_document_chunks_search ON chat_document_chunks USING GIN (search);

CREATE TABLE chat_agents (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    role             TEXT NOT NULL,
    availability     TEXT NOT NULL,
    max_concurrent   BIGINT NOT NULL,
    teams            JSONB NOT NULL DEFAULT '[]',
    last_assigned_at TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE chat_support_assignments (
    id          UUID PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    session_id  UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    assigned_by TEXT,
    note        TEXT,
    started_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ
);
-- At most one active assignment per session, enforced by the schema.
CREATE UNIQUE INDEX chat_support_assignments_active_session ON chat_support_assignments (session_id)
    WHERE ended_at IS NULL;
CREATE INDEX chat_support_assignments_active_agent ON chat_support_assignments (tenant_id, agent_id)
    WHERE ended_at IS NULL;
CREATE INDEX chat_support_assignments_session ON chat_support_assignments (session_id, started_at);

CREATE TABLE chat_url_cache (
    tenant_id     TEXT NOT NULL,
    url_hash      TEXT NOT NULL,
    url           TEXT NOT NULL,
    final_url     TEXT,
    title         TEXT,
    text          TEXT NOT NULL,
    metadata      JSONB NOT NULL DEFAULT '{}',
    etag          TEXT,
    last_modified TEXT,
    status        JSONB NOT NULL,
    fetched_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, url_hash)
);
CREATE INDEX chat_url_cache_expires ON chat_url_cache (expires_at);

-- Weights: title A, tags B, body C (ranked 4 : 2 : 1, as SQLite's bm25 column weights).
CREATE TABLE kb_articles (
    id         UUID NOT NULL,
    tenant_id  TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    tags       JSONB NOT NULL DEFAULT '[]',
    url        TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    search_len INTEGER NOT NULL,
    search     TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('chat_search', title), 'A')
        || setweight(jsonb_to_tsvector('chat_search', tags, '["string"]'), 'B')
        || setweight(to_tsvector('chat_search', body), 'C')
    ) STORED,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX kb_articles_search ON kb_articles USING GIN (search);
CREATE INDEX kb_articles_len ON kb_articles (tenant_id) INCLUDE (search_len);

-- Weights: question A, answer B (ranked 3 : 1).
CREATE TABLE faq_entries (
    id                UUID NOT NULL,
    tenant_id         TEXT NOT NULL,
    question          TEXT NOT NULL,
    answer            TEXT NOT NULL,
    status            TEXT NOT NULL,
    confidence        REAL NOT NULL,
    use_count         BIGINT NOT NULL DEFAULT 0,
    positive_feedback BIGINT NOT NULL DEFAULT 0,
    negative_feedback BIGINT NOT NULL DEFAULT 0,
    source_session    UUID,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    search_len        INTEGER NOT NULL,
    search            TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('chat_search', question), 'A')
        || setweight(to_tsvector('chat_search', answer), 'B')
    ) STORED,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX faq_entries_search ON faq_entries USING GIN (search);
CREATE INDEX faq_entries_len ON faq_entries (tenant_id, status) INCLUDE (search_len);

CREATE TABLE learning_patterns (
    id          UUID PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    pattern_key TEXT NOT NULL,
    example     TEXT NOT NULL,
    occurrences BIGINT NOT NULL,
    faq_id      UUID,
    first_seen  TIMESTAMPTZ NOT NULL,
    last_seen   TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, pattern_key)
);
CREATE INDEX learning_patterns_occurrences ON learning_patterns (tenant_id, occurrences);

CREATE TABLE ai_usage (
    id                UUID PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    session_id        UUID,
    message_id        UUID,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms        BIGINT NOT NULL,
    ttft_ms           BIGINT,
    outcome           TEXT NOT NULL,
    error_kind        TEXT,
    failover_count    BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX ai_usage_tenant_created ON ai_usage (tenant_id, created_at);
