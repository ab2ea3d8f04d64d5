//! The Sealpost server: stores ciphertext only, keeps the server shares encrypted at rest, and
//! keeps every piece of state that decides correctness in the database, so that any number of
//! replicas on one PostgreSQL and one object store behave as one server.

pub mod app;
pub mod blobs;
pub mod clock;
pub mod config;
pub mod context;
pub mod db;
pub mod domain;
pub mod failpoint;
pub mod fence;
pub mod http;
pub mod ids;
pub mod kek;
pub mod lifecycle;
pub mod mail;
pub mod net;
pub mod sms;
pub mod telemetry;
