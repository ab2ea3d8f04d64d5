//! What a request carries into the domain without every signature naming it: where it came
//! from, for the "from where" of log entries. Set by one HTTP middleware around each request;
//! absent (None) in background work such as the sweeper.

use std::future::Future;

tokio::task_local! {
    static SOURCE: Option<String>;
}

/// Runs `f` with `source` (the client address) as the request's origin.
pub async fn with_source<F: Future>(source: Option<String>, f: F) -> F::Output {
    SOURCE.scope(source, f).await
}

/// The client address of the request being served, if any.
pub fn source() -> Option<String> {
    SOURCE.try_with(Clone::clone).ok().flatten()
}
