-- 001_initial: every table of the chat engine, its hot-path indexes and the FTS5 indexes.
--
-- Conventions:
-- - ids created by the engine are 16-byte UUID blobs; host ids (tenant, user) are TEXT;
-- - times are INTEGER nanoseconds since the Unix epoch (UTC), so they round-trip exactly;
-- - JSON columns hold serde_json text of the matching chat-core type;
-- - every table has tenant_id, and every query filters on it.

CREATE TABLE chat_sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    title          TEXT,
    assigned_agent TEXT,
    last_seq       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    metadata       TEXT NOT NULL DEFAULT '{}'
);
-- Listings are newest first (id order, UUID v7) within a tenant.
CREATE INDEX chat_sessions_tenant ON chat_sessions (tenant_id, id);
CREATE INDEX chat_sessions_customer ON chat_sessions (tenant_id, customer_id, id);
CREATE INDEX chat_sessions_status_kind ON chat_sessions (tenant_id, status, kind, id);
CREATE INDEX chat_sessions_assigned ON chat_sessions (tenant_id, assigned_agent, id)
    WHERE assigned_agent IS NOT NULL;
CREATE INDEX chat_sessions_updated ON chat_sessions (tenant_id, updated_at);

CREATE TABLE chat_messages (
    id            BLOB PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL,
    session_id    BLOB NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    sender        TEXT NOT NULL,
    sender_id     TEXT,
    visibility    TEXT NOT NULL,
    content       TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    client_msg_id TEXT,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX chat_messages_session_seq ON chat_messages (session_id, seq);
CREATE UNIQUE INDEX chat_messages_client_msg ON chat_messages (session_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

CREATE TABLE chat_context_sources (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL,
    session_id  BLOB NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    message_id  BLOB NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    source_kind TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    title       TEXT NOT NULL,
    locator     TEXT,
    score       REAL NOT NULL,
    rank        INTEGER NOT NULL,
    cited       INTEGER NOT NULL
);
CREATE INDEX chat_context_sources_message ON chat_context_sources (message_id, rank);
CREATE INDEX chat_context_sources_session ON chat_context_sources (session_id);

CREATE TABLE chat_documents (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL,
    session_id  BLOB NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    filename    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    source_url  TEXT,
    blob_key    TEXT,
    state       TEXT NOT NULL,
    status      TEXT NOT NULL,
    page_count  INTEGER,
    chunk_count INTEGER NOT NULL DEFAULT 0,
    warnings    TEXT NOT NULL DEFAULT '[]',
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX chat_documents_session_sha ON chat_documents (session_id, sha256);

-- An INTEGER PRIMARY KEY alias keeps the rowid stable (VACUUM), as FTS5 external content needs.
CREATE TABLE chat_document_chunks (
    pk          INTEGER PRIMARY KEY,
    id          BLOB NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL,
    session_id  BLOB NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    document_id BLOB NOT NULL REFERENCES chat_documents (id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    text        TEXT NOT NULL,
    locator     TEXT,
    token_count INTEGER NOT NULL
);
CREATE UNIQUE INDEX chat_document_chunks_document ON chat_document_chunks (document_id, ordinal);
CREATE INDEX chat_document_chunks_session ON chat_document_chunks (session_id);

CREATE TABLE chat_agents (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    role             TEXT NOT NULL,
    availability     TEXT NOT NULL,
    max_concurrent   INTEGER NOT NULL,
    teams            TEXT NOT NULL DEFAULT '[]',
    last_assigned_at INTEGER,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE chat_support_assignments (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL,
    session_id  BLOB NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    assigned_by TEXT,
    note        TEXT,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER
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
    metadata      TEXT NOT NULL DEFAULT '{}',
    etag          TEXT,
    last_modified TEXT,
    status        TEXT NOT NULL,
    fetched_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, url_hash)
);
CREATE INDEX chat_url_cache_expires ON chat_url_cache (expires_at);

CREATE TABLE kb_articles (
    pk         INTEGER PRIMARY KEY,
    id         BLOB NOT NULL,
    tenant_id  TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '[]',
    url        TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE faq_entries (
    pk                INTEGER PRIMARY KEY,
    id                BLOB NOT NULL,
    tenant_id         TEXT NOT NULL,
    question          TEXT NOT NULL,
    answer            TEXT NOT NULL,
    status            TEXT NOT NULL,
    confidence        REAL NOT NULL,
    use_count         INTEGER NOT NULL DEFAULT 0,
    positive_feedback INTEGER NOT NULL DEFAULT 0,
    negative_feedback INTEGER NOT NULL DEFAULT 0,
    source_session    BLOB,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE learning_patterns (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL,
    pattern_key TEXT NOT NULL,
    example     TEXT NOT NULL,
    occurrences INTEGER NOT NULL,
    faq_id      BLOB,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    UNIQUE (tenant_id, pattern_key)
);
CREATE INDEX learning_patterns_occurrences ON learning_patterns (tenant_id, occurrences);

CREATE TABLE ai_usage (
    id                BLOB PRIMARY KEY NOT NULL,
    tenant_id         TEXT NOT NULL,
    session_id        BLOB,
    message_id        BLOB,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    ttft_ms           INTEGER,
    outcome           TEXT NOT NULL,
    error_kind        TEXT,
    failover_count    INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX ai_usage_tenant_created ON ai_usage (tenant_id, created_at);

-- Full-text indexes: external-content FTS5 tables kept in sync by the triggers below, in the
-- same transaction as the change. Porter stemming over unicode61 with diacritics removed:
-- "refund" finds "Refunds", "cafe" finds "café".
CREATE VIRTUAL TABLE kb_articles_fts USING fts5 (
    title, body, tags,
    content = 'kb_articles', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN
    INSERT INTO kb_articles_fts (rowid, title, body, tags) VALUES (new.pk, new.title, new.body, new.tags);
END;
CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN
    INSERT INTO kb_articles_fts (kb_articles_fts, rowid, title, body, tags)
        VALUES ('delete', old.pk, old.title, old.body, old.tags);
END;
CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF title, body, tags ON kb_articles BEGIN
    INSERT INTO kb_articles_fts (kb_articles_fts, rowid, title, body, tags)
        VALUES ('delete', old.pk, old.title, old.body, old.tags);
    INSERT INTO kb_articles_fts (rowid, title, body, tags) VALUES (new.pk, new.title, new.body, new.tags);
END;

CREATE VIRTUAL TABLE faq_entries_fts USING fts5 (
    question, answer,
    content = 'faq_entries', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER faq_entries_fts_insert AFTER INSERT ON faq_entries BEGIN
    INSERT INTO faq_entries_fts (rowid, question, answer) VALUES (new.pk, new.question, new.answer);
END;
CREATE TRIGGER faq_entries_fts_delete AFTER DELETE ON faq_entries BEGIN
    INSERT INTO faq_entries_fts (faq_entries_fts, rowid, question, answer)
        VALUES ('delete', old.pk, old.question, old.answer);
END;
CREATE TRIGGER faq_entries_fts_update AFTER UPDATE OF question, answer ON faq_entries BEGIN
    INSERT INTO faq_entries_fts (faq_entries_fts, rowid, question, answer)
        VALUES ('delete', old.pk, old.question, old.answer);
    INSERT INTO faq_entries_fts (rowid, question, answer) VALUES (new.pk, new.question, new.answer);
END;

CREATE VIRTUAL TABLE chat_document_chunks_fts USING fts5 (
    text,
    content = 'chat_document_chunks', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER chat_document_chunks_fts_insert AFTER INSERT ON chat_document_chunks BEGIN
    INSERT INTO chat_document_chunks_fts (rowid, text) VALUES (new.pk, new.text);
END;
CREATE TRIGGER chat_document_chunks_fts_delete AFTER DELETE ON chat_document_chunks BEGIN
    INSERT INTO chat_document_chunks_fts (chat_document_chunks_fts, rowid, text)
        VALUES ('delete', old.pk, old.text);
END;
CREATE TRIGGER chat_document_chunks_fts_update AFTER UPDATE OF text ON chat_document_chunks BEGIN
    INSERT INTO chat_document_chunks_fts (chat_document_chunks_fts, rowid, text)
        VALUES ('delete', old.pk, old.text);
    INSERT INTO chat_document_chunks_fts (rowid, text) VALUES (new.pk, new.text);
END;
