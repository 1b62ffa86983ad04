//! The AI provider, chosen from the environment.
//!
//! | variable | default | what |
//! |---|---|---|
//! | `OPENAI_API_KEY` | none | OpenAI (or any OpenAI-compatible server with `OPENAI_BASE_URL`) |
//! | `OPENAI_BASE_URL` | `https://api.openai.com/v1` | set alone (no key) for a local server: Ollama `http://localhost:11434/v1`, vLLM, LM Studio |
//! | `OPENAI_MODEL` | `gpt-4o-mini` | model |
//! | `ANTHROPIC_API_KEY` | none | Anthropic Messages API |
//! | `ANTHROPIC_MODEL` | `claude-3-5-haiku-latest` | model |
//! | `GEMINI_API_KEY` | none | Google Gemini |
//! | `GEMINI_MODEL` | `gemini-2.0-flash` | model |
//!
//! Every configured provider joins one failover chain in the order of the table (OpenAI,
//! Anthropic, Gemini), and the offline extractive answerer closes it, so a demo with a wrong
//! key or no network still answers (labelled offline). With no variable set, the offline
//! answerer answers alone. Empty values count as unset.

use std::sync::Arc;

use chat_ai_providers::{
    AnthropicConfig, AnthropicProvider, ConfigError, FailoverProvider, GeminiConfig,
    GeminiProvider, OfflineAnswerer, OpenAiConfig, OpenAiProvider,
};
use chat_core::provider::AiProvider;

use crate::AiMode;

/// Model used with `OPENAI_API_KEY` when `OPENAI_MODEL` is unset.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";
/// Model used with `ANTHROPIC_API_KEY` when `ANTHROPIC_MODEL` is unset.
pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-3-5-haiku-latest";
/// Model used with `GEMINI_API_KEY` when `GEMINI_MODEL` is unset.
pub const DEFAULT_GEMINI_MODEL: &str = "gemini-2.0-flash";

/// The provider the engine answers with, and what to tell the person starting the server.
#[derive(Debug, Clone)]
pub struct AiChoice {
    /// None: the engine stores messages but does not answer them.
    pub provider: Option<Arc<dyn AiProvider>>,
    /// Provider names in the order they are tried (`offline` for the extractive answerer).
    pub chain: Vec<String>,
}

impl AiChoice {
    /// One line for the start-up banner.
    pub fn describe(&self) -> String {
        match self.chain.as_slice() {
            [] => "none (messages are not answered)".to_owned(),
            [only] if only == "offline" => {
                "offline extractive answerer (set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY for a model)".to_owned()
            }
            chain => format!("failover chain {}", chain.join(" -> ")),
        }
    }
}

/// Chooses the provider for `mode`, reading variables through `env` (`std::env::var` in the
/// binary, a map in tests).
///
/// Errors: a provider refused its configuration (a base URL that is not a URL, for example).
pub fn choose(mode: AiMode, env: impl Fn(&str) -> Option<String>) -> Result<AiChoice, ConfigError> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let offline = || -> Arc<dyn AiProvider> { Arc::new(OfflineAnswerer::new()) };
    let mut chain: Vec<Arc<dyn AiProvider>> = Vec::new();
    match mode {
        AiMode::None => {
            return Ok(AiChoice {
                provider: None,
                chain: Vec::new(),
            });
        }
        AiMode::Offline => {}
        AiMode::Auto => {
            let openai_model = var("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_OPENAI_MODEL.into());
            let openai = match (var("OPENAI_API_KEY"), var("OPENAI_BASE_URL")) {
                (Some(key), base) => {
                    let config = OpenAiConfig::openai(key, openai_model);
                    Some(match base {
                        Some(base) => config.base_url(base),
                        None => config,
                    })
                }
                // A local OpenAI-compatible server (Ollama, vLLM, LM Studio) needs no key.
                (None, Some(base)) => Some(OpenAiConfig::new(base, openai_model)),
                (None, None) => None,
            };
            if let Some(config) = openai {
                chain.push(Arc::new(OpenAiProvider::new(config)?));
            }
            if let Some(key) = var("ANTHROPIC_API_KEY") {
                let model =
                    var("ANTHROPIC_MODEL").unwrap_or_else(|| DEFAULT_ANTHROPIC_MODEL.into());
                chain.push(Arc::new(AnthropicProvider::new(AnthropicConfig::new(
                    key, model,
                ))?));
            }
            if let Some(key) = var("GEMINI_API_KEY") {
                let model = var("GEMINI_MODEL").unwrap_or_else(|| DEFAULT_GEMINI_MODEL.into());
                chain.push(Arc::new(GeminiProvider::new(GeminiConfig::new(
                    key, model,
                ))?));
            }
        }
    }
    chain.push(offline());
    let names = chain.iter().map(|p| p.name().to_owned()).collect();
    let provider: Arc<dyn AiProvider> = if chain.len() == 1 {
        offline()
    } else {
        Arc::new(FailoverProvider::new(chain)?)
    };
    Ok(AiChoice {
        provider: Some(provider),
        chain: names,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn choose_with(mode: AiMode, vars: &[(&str, &str)]) -> AiChoice {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        choose(mode, |name| map.get(name).cloned()).unwrap()
    }

    #[test]
    fn no_key_means_the_offline_answerer_alone() {
        let choice = choose_with(AiMode::Auto, &[]);
        assert_eq!(choice.chain, ["offline"]);
        let provider = choice.provider.clone().unwrap();
        assert_eq!(provider.name(), "offline");
        assert!(provider.capabilities().offline);
        assert!(choice.describe().contains("offline"));
    }

    #[test]
    fn every_key_joins_the_chain_in_order_before_the_offline_answerer() {
        let choice = choose_with(
            AiMode::Auto,
            &[
                ("GEMINI_API_KEY", "g-key"),
                ("OPENAI_API_KEY", "sk-key"),
                ("ANTHROPIC_API_KEY", "ant-key"),
            ],
        );
        assert_eq!(choice.chain, ["openai", "anthropic", "gemini", "offline"]);
        let provider = choice.provider.clone().unwrap();
        assert_eq!(provider.name(), "failover");
        assert!(!provider.capabilities().offline);
        assert_eq!(
            choice.describe(),
            "failover chain openai -> anthropic -> gemini -> offline"
        );
    }

    #[test]
    fn a_base_url_alone_is_a_keyless_local_server() {
        let choice = choose_with(
            AiMode::Auto,
            &[
                ("OPENAI_BASE_URL", "http://localhost:11434/v1"),
                ("OPENAI_MODEL", "llama3.2"),
            ],
        );
        assert_eq!(choice.chain, ["openai-compatible", "offline"]);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let choice = choose_with(
            AiMode::Auto,
            &[("OPENAI_API_KEY", "  "), ("GEMINI_API_KEY", "")],
        );
        assert_eq!(choice.chain, ["offline"]);
    }

    #[test]
    fn offline_mode_ignores_keys_and_none_mode_answers_nothing() {
        let offline = choose_with(AiMode::Offline, &[("OPENAI_API_KEY", "sk-key")]);
        assert_eq!(offline.chain, ["offline"]);
        let none = choose_with(AiMode::None, &[("OPENAI_API_KEY", "sk-key")]);
        assert!(none.provider.is_none());
        assert!(none.chain.is_empty());
        assert!(none.describe().starts_with("none"));
    }

    #[test]
    fn keys_never_appear_in_debug_output() {
        let choice = choose_with(AiMode::Auto, &[("OPENAI_API_KEY", "sk-secret-123")]);
        assert!(!format!("{choice:?}").contains("sk-secret-123"));
    }
}
