//! What the HTTP clients share: an [`AiProvider`] over a vendor's [`WireFormat`] (URL, body,
//! error bodies, stream decoder), and the setters every client configuration has.

use std::time::Duration;

use chat_core::provider::{
    CompletionRequest, CompletionStream, ProviderCapabilities, ProviderError,
};
use futures::StreamExt;
use url::Url;

use reqwest::header::HeaderMap;

use crate::error::{ConfigError, from_status};
use crate::http_settings::HttpSettings;
use crate::sse::{Decoder, SseCompletion};
use crate::transport::Transport;

/// A vendor's request and response format.
pub(crate) trait WireFormat: Send + Sync + 'static {
    /// The decoder of its event stream.
    type Decoder: Decoder + Default;
    /// The endpoint for `model`.
    fn url(&self, model: &str) -> Result<Url, ProviderError>;
    /// The JSON body of `request` (its model resolved to `model`).
    fn body(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, ProviderError>;
    /// The error of a non-success response.
    fn classify(&self, status: u16, body: String, retry_after: Option<Duration>) -> ProviderError {
        from_status(status, body, retry_after)
    }
}

/// One provider over HTTP.
pub(crate) struct HttpClient<W> {
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) capabilities: ProviderCapabilities,
    pub(crate) transport: Transport,
    pub(crate) wire: W,
}

impl<W: WireFormat> HttpClient<W> {
    /// A client named `name` answering with `model` by default; `headers` (keys included)
    /// go on every request. Errors: an empty name or model, or what [`Transport::new`] refuses.
    pub(crate) fn new(
        name: String,
        model: String,
        capabilities: ProviderCapabilities,
        http: &HttpSettings,
        headers: HeaderMap,
        wire: W,
    ) -> Result<Self, ConfigError> {
        if name.trim().is_empty() {
            return Err(ConfigError::Empty("name"));
        }
        if model.trim().is_empty() {
            return Err(ConfigError::Empty("model"));
        }
        let transport = Transport::new(http, headers)?;
        Ok(Self {
            name,
            model,
            capabilities,
            transport,
            wire,
        })
    }

    pub(crate) async fn stream(
        &self,
        request: CompletionRequest,
    ) -> Result<CompletionStream, ProviderError> {
        let model = request.model.as_deref().unwrap_or(&self.model);
        let url = self.wire.url(model)?;
        let body = self.wire.body(&request, model)?;
        // Names only: never keys, prompts or answers.
        tracing::debug!(provider = %self.name, model, "chat completion");
        let classify = |status, body, wait| self.wire.classify(status, body, wait);
        let stream = self.transport.open(url, body, &classify).await?;
        Ok(SseCompletion::new(stream, W::Decoder::default()).boxed())
    }
}

/// Implements `AiProvider` and a key-free `Debug` for a newtype over [`HttpClient`].
macro_rules! http_provider {
    ($provider:ident) => {
        #[async_trait::async_trait]
        impl chat_core::provider::AiProvider for $provider {
            fn name(&self) -> &str {
                &self.0.name
            }
            fn default_model(&self) -> &str {
                &self.0.model
            }
            fn capabilities(&self) -> chat_core::provider::ProviderCapabilities {
                self.0.capabilities.clone()
            }
            async fn stream(
                &self,
                request: chat_core::provider::CompletionRequest,
            ) -> Result<chat_core::provider::CompletionStream, chat_core::provider::ProviderError>
            {
                self.0.stream(request).await
            }
        }

        impl std::fmt::Debug for $provider {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($provider))
                    .field("name", &self.0.name)
                    .field("model", &self.0.model)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// The setters every client configuration has (`name`, `base_url`, `model`,
/// `context_window`, `max_output_tokens`, `http`, `header`).
macro_rules! common_setters {
    () => {
        /// Sets the provider name.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.name = name.into();
            self
        }
        /// Sets the base URL.
        pub fn base_url(mut self, url: impl Into<String>) -> Self {
            self.base_url = url.into();
            self
        }
        /// Sets the default model.
        pub fn model(mut self, model: impl Into<String>) -> Self {
            self.model = model.into();
            self
        }
        /// Sets the context window reported in capabilities.
        pub fn context_window(mut self, tokens: u32) -> Self {
            self.context_window = tokens;
            self
        }
        /// Sets the output limit reported in capabilities.
        pub fn max_output_tokens(mut self, tokens: u32) -> Self {
            self.max_output_tokens = tokens;
            self
        }
        /// Sets the HTTP settings (timeouts, limits, extra headers).
        pub fn http(mut self, http: $crate::HttpSettings) -> Self {
            self.http = http;
            self
        }
        /// Adds an extra request header (its value is treated as a secret).
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.http = self.http.header(name, value);
            self
        }
    };
}

pub(crate) use {common_setters, http_provider};
