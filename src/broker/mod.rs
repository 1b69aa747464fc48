//! The broker role: the client-facing protocol front-ends (MQTT today).

pub mod auth;
