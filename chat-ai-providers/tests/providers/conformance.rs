//! The shared provider conformance suite, run by every client against its vendor's mock server
//! (and by the failover chain and the mock double, which must behave the same).

mod openai {
    chat_core::provider_conformance_suite!(crate::vendors::openai_backend);
}

mod azure_openai {
    chat_core::provider_conformance_suite!(crate::vendors::azure_backend);
}

mod anthropic {
    chat_core::provider_conformance_suite!(crate::vendors::anthropic_backend);
}

mod gemini {
    chat_core::provider_conformance_suite!(crate::vendors::gemini_backend);
}
