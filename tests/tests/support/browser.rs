//! Headless Chromium driven over WebDriver: finds `chromium` and `chromedriver`, starts
//! chromedriver on a free port, opens one session per test with downloads into a temporary
//! directory, and keeps a screenshot, the page source and the logs when a test fails.
//!
//! [`with_browser`] runs a test body against a fresh browser; when the binaries are missing it
//! prints `skipped: …` and returns, except under `CI=true`, where it fails.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use serde_json::{Value, json};

/// Browsers running at once across the tests of one binary (the machines have two cores).
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Default wait for the page to reach a state.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Installed in every new document before the page's own scripts (through the DevTools
/// protocol, so the page's CSP does not apply to it): records CSP violations and every `fetch`
/// the page makes (method, URL, status, and the start of an error body), so that a failing test
/// can say what the page sent and what came back.
const INIT_SCRIPT: &str = r#"(() => {
  const rec = { csp: [], fetches: [] };
  Object.defineProperty(window, '__sealpostTest', { value: rec });
  document.addEventListener('securitypolicyviolation', (e) => {
    rec.csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
                   line: e.lineNumber, sample: e.sample });
  });
  const original = window.fetch;
  window.fetch = async function (input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || String(input);
    const method = ((init && init.method) || (input && input.method) || 'GET').toUpperCase();
    const entry = { method, url: String(url) };
    rec.fetches.push(entry);
    try {
      const response = await original.apply(this, arguments);
      entry.status = response.status;
      if (!response.ok) {
        response.clone().text().then((t) => { entry.body = t.slice(0, 600); }, () => {});
      }
      return response;
    } catch (err) {
      entry.error = String(err);
      throw err;
    }
  };
})();"#;

/// The Chromium and chromedriver executables.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Binaries {
    /// `CHROMIUM` / `CHROMEDRIVER` when set, else the first of the usual names on `PATH`.
    pub fn find() -> Result<Self, String> {
        let chromium = find_executable("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"])?;
        let chromedriver = find_executable("CHROMEDRIVER", &["chromedriver"])?;
        Ok(Self { chromium, chromedriver })
    }
}

fn find_executable(var: &str, names: &[&str]) -> Result<PathBuf, String> {
    if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&value);
        if path.components().count() == 1
            && let Some(found) = which(&value.to_string_lossy())
        {
            return Ok(found);
        }
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!("{var}={} is not an executable file", path.display()))
        };
    }
    names
        .iter()
        .find_map(|name| which(name))
        .ok_or_else(|| format!("none of {names:?} is on PATH (or set {var})"))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Whether this is a CI run (`CI=true`), where a missing browser is a failure.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The binaries, or `None` after printing `skipped: …` when they are missing outside CI.
pub fn binaries_or_skip(test: &str) -> Option<Binaries> {
    match Binaries::find() {
        Ok(b) => Some(b),
        Err(why) => {
            assert!(
                !ci(),
                "CI=true but the browser test {test} cannot run: {why}; \
                 install the Debian packages `chromium` and `chromium-driver` (.ci/run does)"
            );
            eprintln!(
                "skipped: {test}: {why} (install `chromium` and `chromium-driver`, or set CHROMIUM and CHROMEDRIVER)"
            );
            None
        }
    }
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else `target/` of the workspace.
pub fn target_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(&manifest)
        .to_path_buf();
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A chromedriver process on a free local port; shut down (and killed if need be) on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    /// chromedriver's own log file.
    pub log: PathBuf,
}

impl Driver {
    /// Starts chromedriver and waits until `/status` says it is ready.
    pub async fn start(chromedriver: &Path, dir: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free local port: {e}"))?;
        let log = dir.join("chromedriver.log");
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromedriver.display()))?;
        let mut driver = Driver {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                return Err(format!(
                    "chromedriver exited ({status}) before it was ready; its log:\n{}",
                    read_tail(&driver.log, 4000)
                ));
            }
            let ready = http
                .get(format!("{}/status", driver.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "chromedriver on port {port} not ready after 30 s; its log:\n{}",
                    read_tail(&driver.log, 4000)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `/shutdown` ends every session (and so its browser) before chromedriver exits; a bare
        // kill would leave an orphaned Chromium behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            raw_get(self.port, "/shutdown");
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking `GET` (for `Drop`, where there is no executor to await on).
fn raw_get(port: u16, path: &str) {
    use std::io::{Read as _, Write as _};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        );
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

fn read_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// One browser session for one test.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    test: String,
    session: String,
    http: reqwest::Client,
    downloads: tempfile::TempDir,
    console: Mutex<Vec<Value>>,
    // Dropped in this order: the driver (ends the browser), then its directory.
    driver: Driver,
    _work: tempfile::TempDir,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("test", &self.test)
            .field("session", &self.session)
            .field("driver", &self.driver.url)
            .finish_non_exhaustive()
    }
}

/// Runs `body` against a fresh headless browser. On a panic it keeps a screenshot, the page
/// source and the logs under `target/browser-failures/{test}.*`, prints where, and re-panics.
/// Without the binaries it prints `skipped: …` and returns `false` (fails under `CI=true`).
pub async fn with_browser(test: &str, body: impl AsyncFnOnce(&Browser)) -> bool {
    match try_with_browser(test, body).await {
        None => false,
        Some(Ok(())) => true,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
    }
}

/// As [`with_browser`], but hands back the panic of a failed body (after keeping the failure
/// files) instead of re-raising it; `None` when skipped.
pub async fn try_with_browser(test: &str, body: impl AsyncFnOnce(&Browser)) -> Option<std::thread::Result<()>> {
    let bins = binaries_or_skip(test)?;
    let browser = Browser::start(test, &bins).await;
    let outcome = AssertUnwindSafe(body(&browser)).catch_unwind().await;
    if outcome.is_err() {
        browser.save_failure().await;
    }
    browser.close().await;
    Some(outcome)
}

/// Where a failed test's files go: `target/browser-failures/{test}.{ext}`.
pub fn failure_file(test: &str, ext: &str) -> PathBuf {
    target_dir()
        .join("browser-failures")
        .join(format!("{}.{ext}", sanitize(test)))
}

impl Browser {
    /// Starts chromedriver and a headless session whose downloads land in a temporary directory.
    pub async fn start(test: &str, bins: &Binaries) -> Self {
        let slot = SLOTS.acquire().await.expect("the semaphore is never closed");
        let work = tempfile::tempdir().expect("temporary directory");
        let downloads = tempfile::tempdir().expect("temporary directory");
        let driver = Driver::start(&bins.chromedriver, work.path())
            .await
            .unwrap_or_else(|e| panic!("{test}: {e}"));
        let download_dir = downloads.path().to_string_lossy().into_owned();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": bins.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,900",
                ],
                "prefs": {
                    "download.default_directory": download_dir,
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "profile.default_content_setting_values.automatic_downloads": 1,
                },
            },
            "goog:loggingPrefs": { "browser": "ALL" },
            // No WebDriver command may hang a test: page loads and scripts give up in time.
            "timeouts": { "pageLoad": 60_000, "script": 30_000 },
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{test}: no WebDriver session ({e}); chromedriver log:\n{}",
                    read_tail(&driver.log, 4000)
                )
            });
        let session = client
            .session_id()
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{test}: the WebDriver session has no id"));
        let browser = Browser {
            client,
            test: sanitize(test),
            session,
            http: reqwest::Client::new(),
            downloads,
            console: Mutex::new(Vec::new()),
            driver,
            _work: work,
            _slot: slot,
        };
        // Headless Chromium ignores the download preferences unless told through DevTools.
        browser
            .cdp(
                "Browser.setDownloadBehavior",
                json!({ "behavior": "allow", "downloadPath": download_dir }),
            )
            .await
            .unwrap_or_else(|e| panic!("{test}: Browser.setDownloadBehavior: {e}"));
        browser
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": INIT_SCRIPT }),
            )
            .await
            .unwrap_or_else(|e| panic!("{test}: Page.addScriptToEvaluateOnNewDocument: {e}"));
        browser
    }

    /// Ends the session (and with it the browser) and chromedriver.
    pub async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
    }

    /// A Chrome DevTools Protocol command through chromedriver (`goog/cdp/execute`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value, String> {
        let r = self
            .http
            .post(format!("{}/session/{}/goog/cdp/execute", self.driver.url, self.session))
            .json(&json!({ "cmd": cmd, "params": params }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(format!("{status}: {v}"))
        }
    }

    /// Browser console entries since the session started (`goog:loggingPrefs`), or `None` when
    /// this chromedriver does not offer the log endpoint.
    pub async fn console(&self) -> Option<Vec<Value>> {
        let r = self
            .http
            .post(format!("{}/session/{}/se/log", self.driver.url, self.session))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        // The endpoint hands out each entry once: keep them all.
        let mut kept = self.console.lock().expect("console log lock");
        kept.extend(v["value"].as_array()?.iter().cloned());
        Some(kept.clone())
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The page's current URL (`location.href`).
    pub async fn href(&self) -> String {
        self.js("return location.href;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// `#state[data-state]`, if the element exists.
    pub async fn state(&self) -> Option<String> {
        state(&self.client).await.ok().flatten()
    }

    /// Waits until `#state[data-state]` is `want`; fails at once on a different final state.
    pub async fn wait_for_state(&self, want: &str, timeout: Duration) {
        if let Err(e) = wait_for_state(&self.client, want, timeout).await {
            panic!("{e}\n{}", self.diagnostics().await);
        }
    }

    /// `textContent` of `#id` (exact, unlike WebDriver's rendered text).
    pub async fn text(&self, id: &str) -> String {
        let v = self
            .js(
                "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
                vec![json!(id)],
            )
            .await;
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no element #{id} on the page"))
    }

    /// Waits up to 10 s for `#id` to be shown and enabled.
    pub async fn element(&self, id: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(e) = self.client.find(Locator::Id(id)).await
                && e.is_displayed().await.unwrap_or(false)
                && e.is_enabled().await.unwrap_or(false)
            {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "#{id} not shown and enabled after 10 s (state {:?})\n{}",
                    self.state().await,
                    self.diagnostics().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks `#id`.
    pub async fn click(&self, id: &str) {
        let e = self.element(id).await;
        e.click().await.unwrap_or_else(|err| panic!("click #{id}: {err}"));
    }

    /// Replaces the value of the input `#id` with `text`, as typed.
    pub async fn fill(&self, id: &str, text: &str) {
        let e = self.element(id).await;
        e.clear().await.unwrap_or_else(|err| panic!("clear #{id}: {err}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("type into #{id}: {err}"));
    }

    /// What the init script recorded in the current document: `{csp: [...], fetches: [...]}`.
    pub async fn record(&self) -> Value {
        self.client
            .execute("return window.__sealpostTest || null;", vec![])
            .await
            .unwrap_or(Value::Null)
    }

    /// Requests the page made whose URL contains `part` and whose method is `method`.
    pub async fn fetches(&self, method: &str, part: &str) -> Vec<Value> {
        self.record().await["fetches"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|f| f["method"] == method && f["url"].as_str().is_some_and(|u| u.contains(part)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// CSP violations so far: those the document reported (`securitypolicyviolation`) and those
    /// the browser console logged; the flag says whether the console could be read at all.
    pub async fn csp_violations(&self) -> (Vec<Value>, bool) {
        let mut found = self.record().await["csp"].as_array().cloned().unwrap_or_default();
        let console = self.console().await;
        let readable = console.is_some();
        found.extend(console.unwrap_or_default().into_iter().filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("Content Security Policy"))
        }));
        (found, readable)
    }

    /// Fails on any CSP violation (see [`Browser::csp_violations`]). Returns whether the console
    /// could be read (if not, only the document's own reports were checked).
    pub async fn assert_no_csp_violations(&self) -> bool {
        let (found, readable) = self.csp_violations().await;
        assert!(found.is_empty(), "CSP violations: {found:#?}");
        if !readable {
            eprintln!(
                "note: {}: browser console log not available; checked the page's own reports only",
                self.test
            );
        }
        readable
    }

    /// The download directory.
    pub fn download_dir(&self) -> &Path {
        self.downloads.path()
    }

    /// Waits for a finished download: a file in the download directory, no partial
    /// (`.crdownload`) files, and its size unchanged between two looks. Returns its path.
    pub async fn wait_for_download(&self, timeout: Duration) -> PathBuf {
        let deadline = Instant::now() + timeout;
        let mut last: Option<(PathBuf, u64)> = None;
        loop {
            let mut files = Vec::new();
            let mut partial = false;
            for entry in std::fs::read_dir(self.downloads.path()).expect("download directory") {
                let entry = entry.expect("directory entry");
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".crdownload")
                    || name.starts_with(".com.google.")
                    || name.starts_with(".org.chromium.")
                {
                    partial = true;
                    continue;
                }
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                files.push((entry.path(), len));
            }
            if !partial && files.len() == 1 {
                let now = files.pop().expect("one file");
                if last.as_ref() == Some(&now) {
                    return now.0;
                }
                last = Some(now);
            } else {
                last = None;
                assert!(
                    files.len() <= 1,
                    "expected one download, found {:?}",
                    files.iter().map(|f| &f.0).collect::<Vec<_>>()
                );
            }
            if Instant::now() > deadline {
                let names: Vec<_> = std::fs::read_dir(self.downloads.path())
                    .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                panic!(
                    "no finished download after {timeout:?}; download directory holds {names:?}\n{}",
                    self.diagnostics().await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// State, `#error`, URL and the page's requests, for failure messages.
    pub async fn diagnostics(&self) -> String {
        let state = self.state().await;
        let error = self
            .client
            .execute(
                "const e = document.getElementById('error'); return e ? e.textContent : null;",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let record = self.record().await;
        let fetches = serde_json::to_string_pretty(&record["fetches"]).unwrap_or_default();
        format!("page state {state:?}, #error {error}, url {url}\nrequests made by the page: {fetches}")
    }

    /// Keeps a screenshot, the page source and the logs under `target/browser-failures/`.
    pub async fn save_failure(&self) {
        let png = failure_file(&self.test, "png");
        let html = failure_file(&self.test, "html");
        let txt = failure_file(&self.test, "txt");
        if let Some(dir) = png.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            eprintln!("cannot create {}: {e}", dir.display());
            return;
        }
        match self.client.screenshot().await {
            Ok(bytes) => write_or_say(&png, &bytes),
            Err(e) => eprintln!("no screenshot: {e}"),
        }
        match self.client.source().await {
            Ok(source) => write_or_say(&html, source.as_bytes()),
            Err(e) => eprintln!("no page source: {e}"),
        }
        let console = self.console().await.unwrap_or_default();
        let report = format!(
            "{}\n\nrecord: {:#}\n\nbrowser console:\n{:#}\n\nchromedriver log (tail):\n{}",
            self.diagnostics().await,
            self.record().await,
            Value::Array(console),
            read_tail(&self.driver.log, 20_000),
        );
        write_or_say(&txt, report.as_bytes());
        eprintln!(
            "browser failure kept: {} {} {}",
            png.display(),
            html.display(),
            txt.display()
        );
    }
}

fn write_or_say(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `#state[data-state]` of the current page (`None` when there is no such element).
pub async fn state(client: &Client) -> Result<Option<String>, fantoccini::error::CmdError> {
    let v = client
        .execute(
            "const e = document.getElementById('state'); return e ? (e.dataset.state || '') : null;",
            vec![],
        )
        .await?;
    Ok(v.as_str().map(str::to_owned))
}

/// States after which the page waits for nothing more.
const FINAL_STATES: &[&str] = &["opened", "locked", "revoked", "expired", "unknown", "error"];

/// Polls `#state[data-state]` until it is `want`. Gives up early when the page settles in a
/// different final state.
pub async fn wait_for_state(client: &Client, want: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::<String>::new();
    loop {
        let now = state(client).await.map_err(|e| format!("reading #state: {e}"))?;
        let label = now.clone().unwrap_or_else(|| "(no #state)".into());
        if seen.last() != Some(&label) {
            seen.push(label);
        }
        match now.as_deref() {
            Some(s) if s == want => return Ok(()),
            Some(s) if FINAL_STATES.contains(&s) => {
                return Err(format!(
                    "waited for state {want:?}, the page went to {s:?} (states seen: {seen:?})"
                ));
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(format!(
                "state {want:?} not reached after {timeout:?} (states seen: {seen:?})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
