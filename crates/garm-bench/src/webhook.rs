//! Signed `workflow_job` deliveries built from the published payload examples.

use anyhow::Context;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Stands for the job id in a template; replaced per delivery.
const ID: &str = "4242424242424242";
/// Stands for the runner name in the `completed` template.
const RUNNER: &str = "garm-bench-runner-name";

/// `<workspace>/../shared/fixtures/github/webhooks/workflow_job`, or under `GARM_FIXTURES_DIR`.
pub fn fixtures_dir() -> PathBuf {
    let base = match std::env::var_os("GARM_FIXTURES_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/github"),
    };
    base.join("webhooks/workflow_job")
}

/// Payload templates for one repository and one set of labels, and the repository's secret.
#[derive(Clone)]
pub struct Hooks {
    queued: Arc<String>,
    /// HMAC state after the secret and the `queued` template's bytes before its first job id,
    /// which every `queued` delivery shares (see [`Hooks::queued`]).
    queued_head: Arc<(usize, Hmac<Sha256>)>,
    completed: Arc<String>,
    secret: Arc<String>,
}

/// One delivery, ready to send.
pub struct Delivery {
    pub body: Vec<u8>,
    pub signature: String,
}

fn template(file: &str, base: &str, owner: &str, repo: &str, labels: &[&str]) -> anyhow::Result<String> {
    let path = fixtures_dir().join(file);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut payload: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let repo_url = format!("{base}/{owner}/{repo}");
    payload["repository"]["name"] = json!(repo);
    payload["repository"]["full_name"] = json!(format!("{owner}/{repo}"));
    payload["repository"]["owner"]["login"] = json!(owner);
    payload["repository"]["html_url"] = json!(repo_url);
    if let Some(org) = payload.get_mut("organization") {
        org["login"] = json!(owner);
    }
    let job = &mut payload["workflow_job"];
    job["id"] = json!(ID.parse::<i64>()?);
    job["html_url"] = json!(format!("{repo_url}/actions/runs/1/job/{ID}"));
    job["labels"] = json!(labels);
    job["runner_name"] = json!(RUNNER);
    let text = serde_json::to_string(&payload)?;
    anyhow::ensure!(text.contains(ID), "the job id placeholder is missing from {file}");
    Ok(text)
}

impl Hooks {
    /// Templates for `owner/repo` on the endpoint whose web root is `base`, for jobs asking for `labels`.
    pub fn new(base: &str, owner: &str, repo: &str, labels: &[&str], secret: &str) -> anyhow::Result<Self> {
        let queued = template("dotcom-05-queued.json", base, owner, repo, labels)?;
        let head = queued.find(ID).expect("template() checks that the id is there");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(&queued.as_bytes()[..head]);
        Ok(Self {
            queued: Arc::new(queued),
            queued_head: Arc::new((head, mac)),
            completed: Arc::new(template("dotcom-01-completed.json", base, owner, repo, labels)?),
            secret: Arc::new(secret.to_owned()),
        })
    }

    fn sign(&self, body: String) -> Delivery {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        Delivery {
            signature: format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            body: body.into_bytes(),
        }
    }

    /// The `queued` payload with the job id placeholder (for an outside load generator).
    pub fn queued_template(&self) -> (&str, &str) {
        (&self.queued, ID)
    }

    /// The repository's webhook secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// A `queued` delivery of job `id`, signed over all of its body. The payload's keys are
    /// sorted, so the job id comes late (in `workflow_job`): the HMAC of the constant part
    /// before it is taken once, and each delivery hashes only the rest of its own body.
    pub fn queued(&self, id: u64) -> Delivery {
        let (head, mac) = &*self.queued_head;
        let tail = self.queued[*head..].replace(ID, &id.to_string());
        let mut mac = mac.clone();
        mac.update(tail.as_bytes());
        let mut body = Vec::with_capacity(head + tail.len());
        body.extend_from_slice(&self.queued.as_bytes()[..*head]);
        body.extend_from_slice(tail.as_bytes());
        Delivery {
            signature: format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            body,
        }
    }

    /// A `completed` delivery of job `id`, which ran on `runner`.
    pub fn completed(&self, id: u64, runner: &str) -> Delivery {
        self.sign(self.completed.replace(ID, &id.to_string()).replace(RUNNER, runner))
    }
}

/// A client that keeps one connection open (one per load worker).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client builds")
}

/// POSTs `delivery` to `url` as GitHub does; returns the status code.
pub async fn send(client: &reqwest::Client, url: &str, delivery: Delivery) -> anyhow::Result<u16> {
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitHub-Hookshot/garm-bench")
        .header("X-GitHub-Event", "workflow_job")
        .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string())
        .header("X-GitHub-Hook-Installation-Target-Type", "repository")
        .header("X-Hub-Signature-256", delivery.signature)
        .body(delivery.body)
        .send()
        .await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    Ok(status)
}

/// Sends every delivery over `connections` parallel connections; fails on any non-200 answer.
pub async fn send_all(url: &str, mut deliveries: Vec<Delivery>, connections: usize) -> anyhow::Result<()> {
    // Workers pop from the end; reversed, the deliveries go out in the order given.
    deliveries.reverse();
    let queue = Arc::new(std::sync::Mutex::new(deliveries));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let queue = queue.clone();
        let url = url.to_owned();
        workers.spawn(async move {
            let client = client();
            loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some(delivery) = next else { return Ok(()) };
                let status = send(&client, &url, delivery).await?;
                anyhow::ensure!(status == 200, "garm answered {status} to a webhook");
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_deliveries_are_signed_over_their_whole_body() {
        let hooks = Hooks::new("https://github.com", "acme", "app", &["linux"], "s3cret").expect("fixtures load");
        let (a, b) = (hooks.queued(7001), hooks.queued(7002));
        assert_ne!(a.body, b.body);
        assert_ne!(a.signature, b.signature);
        for (d, id) in [(a, "7001"), (b, "7002")] {
            let text = String::from_utf8(d.body.clone()).expect("utf-8");
            assert!(text.contains(&format!("\"id\":{id}")) && !text.contains(ID));
            let whole = hooks.sign(text);
            assert_eq!(d.signature, whole.signature);
        }
    }
}
