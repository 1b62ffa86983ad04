-- 002_bus_payloads: events too large for a NOTIFY payload (8000 bytes) that cannot be
-- rebuilt from a stored message. The publisher inserts the event and notifies its id in the
-- same transaction; listeners read it by id. Rows expire after the bus's payload TTL and are
-- swept by later publishers.
CREATE TABLE chat_bus_payloads (
    id         UUID PRIMARY KEY,
    payload    TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX chat_bus_payloads_expires ON chat_bus_payloads (expires_at);
