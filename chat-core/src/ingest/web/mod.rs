//! URL ingest: SSRF-guarded fetching, robots.txt, main-content extraction, caching.
