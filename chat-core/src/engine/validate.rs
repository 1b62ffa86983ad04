//! Input validation shared by the engine operations.

use super::{ChatError, EngineConfig};

/// Checks message content: not blank, within the size limit, no control characters other than
/// tab, newline and carriage return.
pub(crate) fn message_content(content: &str, config: &EngineConfig) -> Result<(), ChatError> {
    if content.trim().is_empty() {
        return Err(ChatError::InvalidInput("message content is empty".into()));
    }
    if content.len() > config.max_message_bytes {
        return Err(ChatError::TooLarge(format!(
            "message content is {} bytes; the limit is {} bytes",
            content.len(),
            config.max_message_bytes
        )));
    }
    no_control_chars("message content", content)
}

/// Checks an idempotency key: 1..=limit printable ASCII characters.
pub(crate) fn client_msg_id(id: &str, config: &EngineConfig) -> Result<(), ChatError> {
    if id.is_empty() || id.len() > config.max_client_msg_id_len {
        return Err(ChatError::InvalidInput(format!(
            "client_msg_id must be 1 to {} characters",
            config.max_client_msg_id_len
        )));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ChatError::InvalidInput(
            "client_msg_id must be printable ASCII without spaces".into(),
        ));
    }
    Ok(())
}

/// Checks a single-line text field (title, question): within `max` bytes, no control characters.
pub(crate) fn short_text(field: &str, value: &str, max: usize) -> Result<(), ChatError> {
    if value.len() > max {
        return Err(ChatError::TooLarge(format!(
            "{field} is {} bytes; the limit is {max} bytes",
            value.len()
        )));
    }
    no_control_chars(field, value)
}

/// Checks a long text field (article body): within `max` bytes, no control characters other
/// than tab, newline and carriage return.
pub(crate) fn long_text(field: &str, value: &str, max: usize) -> Result<(), ChatError> {
    if value.len() > max {
        return Err(ChatError::TooLarge(format!(
            "{field} is {} bytes; the limit is {max} bytes",
            value.len()
        )));
    }
    no_control_chars(field, value)
}

fn no_control_chars(field: &str, value: &str) -> Result<(), ChatError> {
    match value
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some((at, c)) => Err(ChatError::InvalidInput(format!(
            "{field} contains the control character U+{:04X} at byte {at}",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rules() {
        let config = EngineConfig::default().max_message_bytes(10);
        assert!(matches!(
            message_content("  \n", &config),
            Err(ChatError::InvalidInput(_))
        ));
        assert!(matches!(
            message_content("12345678901", &config),
            Err(ChatError::TooLarge(_))
        ));
        assert!(matches!(
            message_content("a\u{0}b", &config),
            Err(ChatError::InvalidInput(_))
        ));
        assert!(matches!(
            message_content("a\u{1b}[31m", &config),
            Err(ChatError::InvalidInput(_))
        ));
        assert!(matches!(
            message_content("a\u{85}", &config),
            Err(ChatError::InvalidInput(_))
        ));
        assert!(message_content("a\tb\r\nc", &config).is_ok());
        assert!(message_content("héllo", &config).is_ok());
    }

    #[test]
    fn client_msg_id_rules() {
        let config = EngineConfig::default();
        assert!(client_msg_id("abc-123", &config).is_ok());
        assert!(client_msg_id("", &config).is_err());
        assert!(client_msg_id("a b", &config).is_err());
        assert!(client_msg_id(&"x".repeat(129), &config).is_err());
    }
}
