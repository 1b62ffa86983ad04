//! The JSON frames of API v1, shared by the WebSocket, SSE and Socket.IO transports.

use chat_core::SessionId;
use chat_core::bus::{ChatEvent, EventKind, TypingState};
use chat_core::model::ChatMessage;
use serde::{Deserialize, Serialize};

/// A frame from a WebSocket client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ClientFrame {
    /// Subscribe to a session from a resume point.
    Join {
        session_id: SessionId,
        #[serde(default)]
        after_seq: u64,
    },
    /// Unsubscribe.
    Leave { session_id: SessionId },
    /// Post a message.
    Send {
        session_id: SessionId,
        content: String,
        #[serde(default)]
        client_msg_id: Option<String>,
    },
    /// Typing indicator.
    Typing {
        session_id: SessionId,
        state: TypingState,
    },
    /// Application-level ping (answered with `pong`).
    Ping,
}

/// What names a client frame in an error's `ref`: its `client_msg_id`, else its `type`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FrameHead {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) client_msg_id: Option<String>,
}

impl FrameHead {
    pub(crate) fn reference(&self) -> Option<&str> {
        self.client_msg_id.as_deref().or(self.kind.as_deref())
    }
}

/// A frame to a WebSocket client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServerFrame<'a> {
    /// The replay after `after_seq` is done; live events follow.
    Joined {
        session_id: SessionId,
        last_seq: u64,
    },
    /// A `send` was committed.
    Ack {
        client_msg_id: Option<&'a str>,
        message: &'a ChatMessage,
    },
    /// An engine event.
    Event {
        session_id: Option<SessionId>,
        seq: Option<u64>,
        event: &'a EventKind,
    },
    /// A client frame was refused, or the connection is about to close.
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(rename = "ref")]
        reference: Option<&'a str>,
    },
    /// Answer to `ping`.
    Pong,
}

impl<'a> ServerFrame<'a> {
    /// The frame of an engine event.
    pub(crate) fn event(event: &'a ChatEvent) -> Self {
        Self::Event {
            session_id: event.session_id,
            seq: event.seq,
            event: &event.kind,
        }
    }

    /// The JSON text of the frame.
    pub(crate) fn to_json(&self) -> String {
        // Serializing these plain structures cannot fail (string keys, no maps with other keys).
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"unavailable","message":"frame encoding failed","ref":null}"#
                .to_owned()
        })
    }
}

/// The payload of an event on SSE and Socket.IO: the WebSocket `event` frame without `type`.
#[derive(Debug, Serialize)]
pub(crate) struct EventPayload<'a> {
    pub(crate) session_id: Option<SessionId>,
    pub(crate) seq: Option<u64>,
    pub(crate) event: &'a EventKind,
}

impl<'a> EventPayload<'a> {
    pub(crate) fn new(event: &'a ChatEvent) -> Self {
        Self {
            session_id: event.session_id,
            seq: event.seq,
            event: &event.kind,
        }
    }
}

/// The payload of `joined` on SSE and Socket.IO.
#[derive(Debug, Serialize)]
pub(crate) struct JoinedPayload {
    pub(crate) session_id: SessionId,
    pub(crate) last_seq: u64,
}

/// The payload of an error on SSE and Socket.IO.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorPayload<'a> {
    pub(crate) code: &'a str,
    pub(crate) message: &'a str,
    #[serde(rename = "ref")]
    pub(crate) reference: Option<&'a str>,
}

/// JSON text of any payload; see [`ServerFrame::to_json`].
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_as_documented() {
        let id = SessionId::new();
        let join: ClientFrame = serde_json::from_str(&format!(
            r#"{{"type":"join","session_id":"{id}","after_seq":7}}"#
        ))
        .unwrap();
        assert_eq!(
            join,
            ClientFrame::Join {
                session_id: id,
                after_seq: 7
            }
        );
        let typing: ClientFrame = serde_json::from_str(&format!(
            r#"{{"type":"typing","session_id":"{id}","state":"start"}}"#
        ))
        .unwrap();
        assert!(matches!(
            typing,
            ClientFrame::Typing {
                state: TypingState::Start,
                ..
            }
        ));
        assert_eq!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"jump"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientFrame>(&format!(
                r#"{{"type":"leave","session_id":"{id}","x":1}}"#
            ))
            .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn server_frames_have_the_documented_shape() {
        let id = SessionId::new();
        let joined: serde_json::Value = serde_json::from_str(
            &ServerFrame::Joined {
                session_id: id,
                last_seq: 3,
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(
            joined,
            serde_json::json!({"type": "joined", "session_id": id.to_string(), "last_seq": 3})
        );
        let error: serde_json::Value = serde_json::from_str(
            &ServerFrame::Error {
                code: "rate_limited",
                message: "slow down",
                reference: Some("m1"),
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(
            error,
            serde_json::json!({"type": "error", "code": "rate_limited", "message": "slow down", "ref": "m1"})
        );
        assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
    }
}
