//! Sealpost SDK.
