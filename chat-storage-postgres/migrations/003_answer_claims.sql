-- Who may produce a session's AI answer, until when (one answer per session across nodes).
ALTER TABLE chat_sessions ADD COLUMN answer_owner TEXT;
ALTER TABLE chat_sessions ADD COLUMN answer_until TIMESTAMPTZ;
