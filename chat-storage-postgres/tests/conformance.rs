//! The whole store conformance suite against the PostgreSQL server named by
//! `CHAT_TEST_POSTGRES_URL`, each case in a fresh schema dropped afterwards; the concurrency
//! cases spread their writers over two stores (two pools, as two nodes).

mod support;

mod conformance {
    use super::support::PgFactory;

    chat_core::store_conformance_tests!({
        let Some(factory) = PgFactory::fresh() else {
            return;
        };
        std::future::ready(factory)
    });
}
