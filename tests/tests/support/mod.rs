//! Support for the end-to-end tests: headless Chromium over WebDriver ([`browser`]) and a real
//! server in-process with a sender that seals real messages ([`server`]).
#![allow(dead_code)]

pub mod browser;
pub mod server;
