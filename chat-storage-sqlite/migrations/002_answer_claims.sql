-- Who may produce a session's AI answer, until when (nanoseconds since the epoch, UTC).
ALTER TABLE chat_sessions ADD COLUMN answer_owner TEXT;
ALTER TABLE chat_sessions ADD COLUMN answer_until INTEGER;
