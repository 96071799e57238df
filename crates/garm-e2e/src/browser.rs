//! A tiny W3C WebDriver client: starts Debian's `chromedriver` and a headless `chromium`,
//! and speaks the WebDriver HTTP API over reqwest (no browser automation crate).

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_exe(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A chromedriver process with one headless Chromium session.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    base: String,
}

/// An element found on the page.
#[derive(Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium; fails with what to install when either is missing.
    pub async fn start() -> anyhow::Result<Self> {
        let chromium = find_exe(&["chromium", "chromium-browser", "google-chrome"]).context(
            "no chromium on PATH: the web UI tests need Debian's `chromium` and `chromium-driver` packages (apt-get install chromium chromium-driver; .ci/run installs them)",
        )?;
        let driver_exe = find_exe(&["chromedriver"]).context(
            "no chromedriver on PATH: the web UI tests need Debian's `chromium-driver` package (apt-get install chromium chromium-driver; .ci/run installs them)",
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new(&driver_exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", driver_exe.display()))?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let mut browser = Self {
            driver,
            http,
            base: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while browser
            .http
            .get(format!("{}/status", browser.base))
            .send()
            .await
            .is_err()
        {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not answer on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,900"]
            }
        }}});
        let session = browser.call("POST", "/session", Some(caps)).await?;
        let id = session["sessionId"].as_str().context("a session id")?.to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let req = self.http.request(method.parse()?, format!("{}{path}", self.base));
        let req = match body {
            Some(b) => req.json(&b),
            None if method == "POST" => req.json(&json!({})),
            None => req,
        };
        let resp = req.send().await?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("webdriver {method} {path}: {status} {}", value["value"]);
        }
        Ok(value.get("value").cloned().unwrap_or(Value::Null))
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", "/url", Some(json!({"url": url}))).await.map(|_| ())
    }

    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .call("GET", "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        let v = self
            .call("POST", "/element", Some(json!({"using": "css selector", "value": css})))
            .await
            .with_context(|| format!("finding {css}"))?;
        Ok(Element(v[ELEMENT].as_str().context("an element id")?.to_string()))
    }

    /// Types into a control (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.on_fresh(css, async |el: Element| {
            self.call("POST", &format!("/element/{}/clear", el.0), None).await?;
            // Typing focuses the control, and live pages never swap content under a focused control.
            self.call("POST", &format!("/element/{}/value", el.0), Some(json!({"text": text})))
                .await
                .map(|_| ())
        })
        .await
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.on_fresh(css, async |el: Element| {
            self.call("POST", &format!("/element/{}/click", el.0), None)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Finds `css` and acts on it; a live page may swap its content between the two (the
    /// element goes stale), and then the element is found again, a few times at most.
    async fn on_fresh(&self, css: &str, mut act: impl AsyncFnMut(Element) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let mut attempt = 0;
        loop {
            let el = self.find(css).await?;
            match act(el).await {
                Err(err) if attempt < 5 && format!("{err:#}").contains("stale element") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return other,
            }
        }
    }

    /// Picks an option of a `<select>` by its value, as a user clicking it would.
    pub async fn select(&self, select_css: &str, value: &str) -> anyhow::Result<()> {
        self.click(&format!("{select_css} option[value=\"{value}\"]")).await
    }

    /// The page's visible text.
    pub async fn text(&self) -> anyhow::Result<String> {
        let el = self.find("body").await?;
        Ok(self
            .call("GET", &format!("/element/{}/text", el.0), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Waits until the page's text contains `needle` (the page may refresh itself meanwhile).
    pub async fn wait_text(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let start = Instant::now();
        loop {
            let text = match self.text().await {
                Ok(t) => t,
                Err(err) => format!("(could not read the page: {err:#})"),
            };
            if text.contains(needle) {
                return Ok(text);
            }
            if start.elapsed() > timeout {
                bail!(
                    "timed out after {timeout:?} waiting for {needle:?} on {}; the page says:\n{text}",
                    self.url().await.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn script(&self, js: &str) -> anyhow::Result<Value> {
        self.call("POST", "/execute/sync", Some(json!({"script": js, "args": []})))
            .await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        use base64::Engine;
        let b64 = self.call("GET", "/screenshot", None).await?;
        Ok(base64::engine::general_purpose::STANDARD.decode(b64.as_str().context("base64 PNG")?)?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (closes Chromium), then the driver this browser started.
        let url = self.base.clone();
        let _ = std::thread::spawn(move || {
            let _ = reqwest::blocking::Client::new()
                .delete(url)
                .timeout(Duration::from_secs(10))
                .send();
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
