//! Loads the published payload examples the fake builds its bodies from, and rewrites their URLs.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

/// Templates read once at start-up from the fixtures folder.
#[derive(Debug)]
pub(crate) struct Fixtures {
    pub job_queued: Value,
    pub job_in_progress: Value,
    pub job_completed: Value,
    /// An `organization` object of a webhook payload.
    pub webhook_org: Value,
    pub ping_repo: Value,
    pub ping_org: Value,
    /// `components/examples/*/value` of the GHEC REST subset, by name.
    pub rest_examples: Map<String, Value>,
}

/// Why the fixtures could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read fixture {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fixture {path} is not JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("fixture {path} lacks {what}")]
    Missing { path: PathBuf, what: String },
}

fn load(dir: &Path, relative: &str) -> Result<Value, FixtureError> {
    let path = dir.join(relative);
    let text = std::fs::read_to_string(&path).map_err(|source| FixtureError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| FixtureError::Parse { path, source })
}

impl Fixtures {
    pub fn load(dir: &Path) -> Result<Self, FixtureError> {
        let job_completed = load(dir, "webhooks/workflow_job/dotcom-01-completed.json")?;
        let webhook_org = job_completed
            .get("organization")
            .cloned()
            .ok_or_else(|| FixtureError::Missing {
                path: dir.join("webhooks/workflow_job/dotcom-01-completed.json"),
                what: "organization".to_owned(),
            })?;
        let openapi_path = "openapi/rest-subset.ghec.json";
        let openapi = load(dir, openapi_path)?;
        let examples = openapi
            .pointer("/components/examples")
            .and_then(Value::as_object)
            .ok_or_else(|| FixtureError::Missing {
                path: dir.join(openapi_path),
                what: "components/examples".to_owned(),
            })?;
        let rest_examples = examples
            .iter()
            .filter_map(|(name, example)| Some((name.clone(), example.get("value")?.clone())))
            .collect();
        Ok(Fixtures {
            job_queued: load(dir, "webhooks/workflow_job/dotcom-05-queued.json")?,
            job_in_progress: load(dir, "webhooks/workflow_job/dotcom-03-in_progress.json")?,
            job_completed,
            webhook_org,
            ping_repo: load(dir, "webhooks/ping/dotcom-00.json")?,
            ping_org: load(dir, "webhooks/ping/dotcom-03.json")?,
            rest_examples,
        })
    }

    /// A REST example by name; the names are checked at start-up by [`Fixtures::check`].
    pub fn example(&self, name: &str) -> Value {
        self.rest_examples.get(name).cloned().unwrap_or(Value::Null)
    }

    /// Fails early when an example the fake relies on is absent.
    pub fn check(&self, dir: &Path) -> Result<(), FixtureError> {
        const NEEDED: &[&str] = &[
            "authentication-token",
            "runner",
            "runner-application-items",
            "runner-groups-org",
            "runner-group-enterprise",
            "hook",
            "org-hook",
            "hook-delivery-items",
            "job",
            "installation-token",
            "integration",
            "installation",
            "rate-limit-overview",
            "full-repository-default-response",
            "organization-full",
        ];
        for name in NEEDED {
            if !self.rest_examples.contains_key(*name) {
                return Err(FixtureError::Missing {
                    path: dir.join("openapi/rest-subset.ghec.json"),
                    what: format!("components/examples/{name}"),
                });
            }
        }
        Ok(())
    }
}

/// The fake's web and API roots, as written into bodies.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    /// `http://host:port`, no trailing slash.
    pub web: String,
    /// `web` plus the API prefix (`/api/v3`).
    pub api: String,
    /// `host:port`.
    pub host: String,
}

impl Urls {
    pub fn new(public: &url::Url, api_prefix: &str) -> Self {
        let web = public.as_str().trim_end_matches('/').to_owned();
        let host = match public.port() {
            Some(port) => format!("{}:{port}", public.host_str().unwrap_or("localhost")),
            None => public.host_str().unwrap_or("localhost").to_owned(),
        };
        let prefix = api_prefix.trim_end_matches('/');
        Urls {
            api: format!("{web}{prefix}"),
            web,
            host,
        }
    }
}

/// Prefix substitutions applied to every string of a template, first match wins.
pub(crate) struct Rewriter {
    rules: Vec<(String, String)>,
}

impl Rewriter {
    pub fn new(urls: &Urls) -> Self {
        let mut rewriter = Rewriter { rules: Vec::new() };
        rewriter.tail(urls);
        rewriter
    }

    /// Rules for a template repository `from` (`owner/name`) that becomes `to`.
    pub fn repo(urls: &Urls, from: &str, to: &str) -> Self {
        let (from_owner, _) = from.split_once('/').unwrap_or((from, ""));
        let (to_owner, _) = to.split_once('/').unwrap_or((to, ""));
        let mut rewriter = Rewriter { rules: Vec::new() };
        rewriter.push(
            format!("https://api.github.com/repos/{from}"),
            format!("{}/repos/{to}", urls.api),
        );
        rewriter.push(format!("https://github.com/{from}"), format!("{}/{to}", urls.web));
        rewriter.push(format!("https://svn.github.com/{from}"), format!("{}/{to}", urls.web));
        rewriter.push(format!("git://github.com/{from}"), format!("git://{}/{to}", urls.host));
        rewriter.push(format!("git:github.com/{from}"), format!("git://{}/{to}", urls.host));
        rewriter.push(format!("git@github.com:{from}"), format!("git@{}:{to}", urls.host));
        rewriter.owner(urls, from_owner, to_owner);
        rewriter.tail(urls);
        rewriter
    }

    /// Rules for an account (user or organization) `from` that becomes `to`.
    pub fn account(urls: &Urls, from: &str, to: &str) -> Self {
        let mut rewriter = Rewriter { rules: Vec::new() };
        rewriter.owner(urls, from, to);
        rewriter.tail(urls);
        rewriter
    }

    fn owner(&mut self, urls: &Urls, from: &str, to: &str) {
        self.push(
            format!("https://api.github.com/users/{from}/"),
            format!("{}/users/{to}/", urls.api),
        );
        self.push(
            format!("https://api.github.com/users/{from}"),
            format!("{}/users/{to}", urls.api),
        );
        self.push(
            format!("https://api.github.com/orgs/{from}/"),
            format!("{}/orgs/{to}/", urls.api),
        );
        self.push(
            format!("https://api.github.com/orgs/{from}"),
            format!("{}/orgs/{to}", urls.api),
        );
        self.push(format!("https://github.com/{from}"), format!("{}/{to}", urls.web));
    }

    fn tail(&mut self, urls: &Urls) {
        self.push("https://api.github.com".to_owned(), urls.api.clone());
        self.push("https://github.com".to_owned(), urls.web.clone());
    }

    fn push(&mut self, from: String, to: String) {
        self.rules.push((from, to));
    }

    /// Rewrites every string in `value`, recursively.
    pub fn apply(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Some((from, to)) = self.rules.iter().find(|(from, _)| text.starts_with(from)) {
                    *text = format!("{to}{}", &text[from.len()..]);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.apply(item)),
            Value::Object(map) => map.values_mut().for_each(|item| self.apply(item)),
            _ => {}
        }
    }
}

/// A GraphQL-style node id, shaped like GitHub's legacy ones (`MDQ6VXNlcjE=` is `04:User1`).
pub(crate) fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{:02}:{kind}{id}", kind.len()))
}

/// Sets `key` in a JSON object (no-op for non-objects).
pub(crate) fn set(value: &mut Value, key: &str, new: Value) {
    if let Some(map) = value.as_object_mut() {
        map.insert(key.to_owned(), new);
    }
}
