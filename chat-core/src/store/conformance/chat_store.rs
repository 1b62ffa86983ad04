//! Conformance cases of [`ChatStore`] itself.

use std::sync::Arc;

use crate::store::ChatStore;

/// Capabilities are stable and coherent: ranked full-text search is there (the search cases
/// rely on it), and a multi-node store is durable.
pub async fn capabilities(store: Arc<dyn ChatStore>) {
    let caps = store.capabilities();
    assert_eq!(
        store.capabilities(),
        caps,
        "capabilities change between calls"
    );
    assert!(
        caps.full_text_search,
        "every store of this suite ranks full-text search"
    );
    assert!(
        !caps.multi_node || caps.durable,
        "a multi-node store must be durable"
    );
}
