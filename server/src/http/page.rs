//! The recipient page: the static bundle of `web-recipient/dist/` (built reproducibly by
//! `web-recipient/build.sh`, see `docs/recipient-page.md`), embedded at compile time and served
//! under `/r/`.
//!
//! - `GET|HEAD /r/{access_id}`: [`index_response`], called by the access handler; the same
//!   bytes for every id.
//! - `GET|HEAD /r/assets/{file}`: the scripts, stylesheet and WebAssembly, cached as immutable
//!   (`index.html` names them with a content-hash query and pins them with SRI).
//! - `GET|HEAD /r/sw.js`: the service worker (scope `/r/`), revalidated on every load.
//! - `GET|HEAD /r/_download/{id}/{name}`: what a download link reaches when the service worker did
//!   not answer it: a small page saying to go back.
//!
//! Every answer carries the page's own `Content-Security-Policy` and `Cache-Control`; the
//! global security-headers middleware must leave those two in place when present.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::problem::ApiError;

/// The page's Content-Security-Policy (access contract): own-origin scripts, styles and
/// connections only, WebAssembly compilation allowed, no frames, forms, plugins or base URL.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'none'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const WASM: &str = "application/wasm";

/// `index.html`, with the integrity values of every asset.
const INDEX_HTML: &[u8] = include_bytes!("../../../web-recipient/dist/index.html");
/// The service worker.
const SERVICE_WORKER: &[u8] = include_bytes!("../../../web-recipient/dist/sw.js");

/// One file of `dist/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../../web-recipient/dist/assets/", $name)),
        }
    };
}

/// Every file of `dist/assets/`; the unit test checks the list against the directory.
const ASSETS: &[Asset] = &[
    asset!("app.js", JS),
    asset!("download.js", JS),
    asset!("sealpost_web.js", JS),
    asset!("sealpost_web_bg.wasm", WASM),
    asset!("style.css", CSS),
];

/// The page's security headers, on every response of this module.
fn page_headers(headers: &mut HeaderMap, content_type: &'static str, cache: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("permissions-policy", HeaderValue::from_static("interest-cohort=()"));
}

fn file_response(
    bytes: &'static [u8],
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    head: bool,
) -> Response {
    let body = if head {
        axum::body::Body::empty()
    } else {
        axum::body::Body::from(bytes)
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    page_headers(headers, content_type, cache);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    response
}

/// `index.html` with the page headers (`Cache-Control: no-store`); without the body for `HEAD`.
/// Identical for every access id, known or not: the page asks the API.
pub fn index_response(head: bool) -> Response {
    file_response(INDEX_HTML, StatusCode::OK, HTML, "no-store", head)
}

/// The static routes of the page: assets, the service worker and the download fallback.
/// (`GET` routes answer `HEAD` too, without the body.)
pub fn static_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/r/assets/{file}", get(asset))
        .route("/r/sw.js", get(service_worker))
        .route("/r/_download/{id}/{name}", get(download_fallback))
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => file_response(a.bytes, StatusCode::OK, a.content_type, CACHE_IMMUTABLE, false),
        None => ApiError::not_found().into_response(),
    }
}

async fn service_worker() -> Response {
    file_response(SERVICE_WORKER, StatusCode::OK, JS, "no-cache", false)
}

/// Reached only when the service worker did not take a download (not active, or the link was
/// opened on its own): nothing to serve, the plaintext exists only in the page.
const DOWNLOAD_FALLBACK: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Download not available</title>\n\
</head>\n<body>\n<h1>This download needs the message page</h1>\n<p>Attachments are decrypted in the page you \
opened from your link, and saved from there. Go back to that page and press Save again. If you closed it, open \
the link again.</p>\n</body>\n</html>\n";

async fn download_fallback() -> Response {
    file_response(
        DOWNLOAD_FALLBACK.as_bytes(),
        StatusCode::NOT_FOUND,
        HTML,
        "no-store",
        false,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path as FsPath, PathBuf};

    use axum::body::Body;
    use axum::http::Request;
    use base64::Engine;
    use sha2::{Digest, Sha384};
    use tower::ServiceExt;

    use super::*;

    fn dist() -> PathBuf {
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../web-recipient/dist")
    }

    fn files_under(dir: &FsPath, prefix: &str, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("web-recipient/dist exists") {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.insert(name);
            }
        }
    }

    fn embedded() -> Vec<(String, &'static [u8])> {
        let mut all = vec![
            ("index.html".to_owned(), INDEX_HTML),
            ("sw.js".to_owned(), SERVICE_WORKER),
        ];
        all.extend(ASSETS.iter().map(|a| (format!("assets/{}", a.name), a.bytes)));
        all
    }

    #[test]
    fn every_file_of_dist_is_embedded_and_nothing_else() {
        let mut on_disk = BTreeSet::new();
        files_under(&dist(), "", &mut on_disk);
        let names: BTreeSet<String> = embedded().into_iter().map(|(name, _)| name).collect();
        assert_eq!(on_disk, names, "list every file of web-recipient/dist in page.rs");
        for (name, bytes) in embedded() {
            assert!(
                std::fs::read(dist().join(&name)).unwrap() == bytes,
                "{name} changed since compiling"
            );
        }
    }

    /// The value of attribute `name` in one tag's text.
    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = tag[start..].find('"')?;
        Some(&tag[start..start + len])
    }

    fn sri(bytes: &[u8]) -> String {
        format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
        )
    }

    fn asset_bytes(url: &str) -> &'static [u8] {
        let path = url.split('?').next().unwrap();
        let name = path
            .strip_prefix("assets/")
            .unwrap_or_else(|| panic!("{url} is not an asset"));
        ASSETS
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("{url} is not embedded"))
            .bytes
    }

    #[test]
    fn index_pins_every_script_stylesheet_and_the_wasm_with_sri() {
        let html = std::str::from_utf8(INDEX_HTML).unwrap();
        let tags: Vec<&str> = html.split('<').filter_map(|t| t.split('>').next()).collect();
        let mut pinned = BTreeSet::new();
        let mut wasm_url = None;
        let mut wasm_sri = None;
        for tag in tags {
            if tag.starts_with("script") {
                let src = attr(tag, "src").expect("no inline scripts");
                let integrity = attr(tag, "integrity").unwrap_or_else(|| panic!("{src} has no integrity"));
                assert_eq!(integrity, sri(asset_bytes(src)), "{src}");
                pinned.insert(src.split('?').next().unwrap().to_owned());
            } else if tag.starts_with("link") && attr(tag, "rel") == Some("stylesheet") {
                let href = attr(tag, "href").unwrap();
                assert_eq!(attr(tag, "integrity"), Some(sri(asset_bytes(href)).as_str()), "{href}");
                pinned.insert(href.split('?').next().unwrap().to_owned());
            } else if tag.starts_with("meta") && attr(tag, "name") == Some("sealpost-wasm") {
                wasm_url = attr(tag, "content");
            } else if tag.starts_with("meta") && attr(tag, "name") == Some("sealpost-wasm-integrity") {
                wasm_sri = attr(tag, "content");
            } else if tag.starts_with("style") {
                panic!("no inline styles");
            }
        }
        let wasm_url = wasm_url.expect("the wasm URL meta");
        assert_eq!(wasm_sri, Some(sri(asset_bytes(wasm_url)).as_str()));
        pinned.insert(wasm_url.split('?').next().unwrap().to_owned());
        let all: BTreeSet<String> = ASSETS.iter().map(|a| format!("assets/{}", a.name)).collect();
        assert_eq!(pinned, all, "every asset is referenced and pinned by index.html");
        assert!(!html.contains("@@"), "no placeholder left");
        assert!(!html.contains(" style="), "no inline style attributes");
    }

    async fn call(method: &str, uri: &str) -> Response {
        static_routes::<()>()
            .oneshot(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    fn header_of<'a>(response: &'a Response, name: &str) -> &'a str {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn assets_are_served_immutable_with_their_types() {
        for (file, content_type) in [
            ("app.js", JS),
            ("sealpost_web.js", JS),
            ("sealpost_web_bg.wasm", WASM),
            ("style.css", CSS),
        ] {
            let response = call("GET", &format!("/r/assets/{file}?v=0123")).await;
            assert_eq!(response.status(), StatusCode::OK, "{file}");
            assert_eq!(header_of(&response, "content-type"), content_type);
            assert_eq!(header_of(&response, "cache-control"), CACHE_IMMUTABLE);
            assert_eq!(header_of(&response, "x-content-type-options"), "nosniff");
            let expected = ASSETS.iter().find(|a| a.name == file).unwrap().bytes;
            assert!(body(response).await == expected);
        }
        let head = call("HEAD", "/r/assets/app.js").await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(header_of(&head, "content-length"), ASSETS[0].bytes.len().to_string());
        assert!(body(head).await.is_empty());
        for missing in ["/r/assets/nope.js", "/r/assets/..%2Findex.html", "/r/assets/"] {
            let response = call("GET", missing).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        }
        let problem = call("GET", "/r/assets/nope.js").await;
        assert_eq!(header_of(&problem, "content-type"), "application/problem+json");
    }

    #[tokio::test]
    async fn the_service_worker_index_and_download_fallback_carry_the_page_headers() {
        let sw = call("GET", "/r/sw.js").await;
        assert_eq!(sw.status(), StatusCode::OK);
        assert_eq!(header_of(&sw, "content-type"), JS);
        assert_eq!(header_of(&sw, "cache-control"), "no-cache");
        assert!(body(sw).await == SERVICE_WORKER);

        let index = index_response(false);
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(header_of(&index, "content-type"), HTML);
        assert_eq!(header_of(&index, "cache-control"), "no-store");
        assert_eq!(
            header_of(&index, "content-security-policy"),
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; worker-src 'self'; manifest-src 'none'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        );
        assert_eq!(header_of(&index, "referrer-policy"), "no-referrer");
        assert_eq!(header_of(&index, "cross-origin-opener-policy"), "same-origin");
        assert_eq!(header_of(&index, "permissions-policy"), "interest-cohort=()");
        assert_eq!(header_of(&index, "x-content-type-options"), "nosniff");
        assert!(body(index).await == INDEX_HTML);
        let head = index_response(true);
        assert_eq!(header_of(&head, "content-length"), INDEX_HTML.len().to_string());
        assert!(body(head).await.is_empty());

        let fallback = call("GET", "/r/_download/AAAAAAAAAAAAAAAAAAAAAA/report.pdf").await;
        assert_eq!(fallback.status(), StatusCode::NOT_FOUND);
        assert_eq!(header_of(&fallback, "content-type"), HTML);
        assert_eq!(header_of(&fallback, "content-security-policy"), PAGE_CSP);
        assert!(String::from_utf8(body(fallback).await).unwrap().contains("Go back"));
    }
}
