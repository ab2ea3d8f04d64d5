//! The DPO's breach-register page: three static files of `server/web/dpo/` (plain HTML, one
//! script, one stylesheet), embedded at compile time and served under `/dpo/`.
//!
//! - `GET|HEAD /dpo/`: `index.html` (`Cache-Control: no-store`).
//! - `GET|HEAD /dpo/app.js`, `/dpo/style.css`: the script and stylesheet (`no-cache`).
//! - `GET|HEAD /dpo`: a redirect to `/dpo/` (the page's relative URLs need the slash).
//!
//! The page holds no data of its own: the DPO pastes an API token (kept in `sessionStorage`),
//! and the script calls `/api/v1/incidents…` with it. Every answer carries the page's own
//! `Content-Security-Policy` (own-origin script, style and connections only; no inline code, no
//! frames, forms or base URL), which the global security-headers middleware leaves in place.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The page's Content-Security-Policy.
pub const DPO_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const INDEX_HTML: &[u8] = include_bytes!("../../web/dpo/index.html");
const APP_JS: &[u8] = include_bytes!("../../web/dpo/app.js");
const STYLE_CSS: &[u8] = include_bytes!("../../web/dpo/style.css");

/// The routes of the page. (`GET` routes answer `HEAD` too, without the body.)
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dpo", get(|| async { Redirect::permanent("/dpo/") }))
        .route("/dpo/", get(|| async { file(INDEX_HTML, HTML, "no-store") }))
        .route("/dpo/app.js", get(|| async { file(APP_JS, JS, "no-cache") }))
        .route("/dpo/style.css", get(|| async { file(STYLE_CSS, CSS, "no-cache") }))
}

fn page_headers(headers: &mut HeaderMap, content_type: &'static str, cache: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DPO_CSP));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
}

fn file(bytes: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = (StatusCode::OK, axum::body::Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    page_headers(headers, content_type, cache);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    response
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn call(method: &str, uri: &str) -> Response {
        routes::<()>()
            .oneshot(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header_of<'a>(response: &'a Response, name: &str) -> &'a str {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_embedded_files_are_the_files_on_disk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dpo");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["app.js", "index.html", "style.css"],
            "list every file in dpo_page.rs"
        );
        for (name, bytes) in [("index.html", INDEX_HTML), ("app.js", APP_JS), ("style.css", STYLE_CSS)] {
            assert!(
                std::fs::read(dir.join(name)).unwrap() == bytes,
                "{name} changed since compiling"
            );
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_no_external_resource() {
        let html = std::str::from_utf8(INDEX_HTML).unwrap();
        for tag in html.split('<').filter_map(|t| t.split('>').next()) {
            if tag.starts_with("script") {
                assert!(tag.contains("src=\"app.js\""), "no inline scripts: {tag}");
            }
            assert!(!tag.starts_with("style"), "no inline styles");
            assert!(!tag.contains(" style="), "no inline style attributes: {tag}");
            assert!(
                !tag.split_whitespace().any(|w| w.starts_with("on") && w.contains('=')),
                "no inline event handlers: {tag}"
            );
            assert!(
                !tag.contains("http:") && !tag.contains("https:"),
                "no external resources: {tag}"
            );
        }
        let js = std::str::from_utf8(APP_JS).unwrap();
        assert!(!js.contains("innerHTML"), "text goes in with textContent only");
        assert!(!js.contains("eval("), "no eval");
    }

    #[tokio::test]
    async fn every_file_is_served_with_the_page_headers() {
        for (uri, content_type, cache, bytes) in [
            ("/dpo/", HTML, "no-store", INDEX_HTML),
            ("/dpo/app.js", JS, "no-cache", APP_JS),
            ("/dpo/style.css", CSS, "no-cache", STYLE_CSS),
        ] {
            let response = call("GET", uri).await;
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            assert_eq!(header_of(&response, "content-type"), content_type);
            assert_eq!(header_of(&response, "cache-control"), cache);
            assert_eq!(
                header_of(&response, "content-security-policy"),
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            );
            assert_eq!(header_of(&response, "x-content-type-options"), "nosniff");
            assert_eq!(header_of(&response, "referrer-policy"), "no-referrer");
            assert!(body(response).await == bytes, "{uri}");

            let head = call("HEAD", uri).await;
            assert_eq!(head.status(), StatusCode::OK, "HEAD {uri}");
            assert_eq!(header_of(&head, "content-length"), bytes.len().to_string());
            assert!(body(head).await.is_empty());
        }
        let bare = call("GET", "/dpo").await;
        assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(header_of(&bare, "location"), "/dpo/");
    }
}
