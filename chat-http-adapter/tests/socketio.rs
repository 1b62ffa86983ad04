//! Placeholder until the Socket.IO tests land.
