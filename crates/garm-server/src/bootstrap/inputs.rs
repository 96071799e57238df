//! What `garm bootstrap` is asked to create: the `GARM_*` variables it reads, and their
//! checks, all made before anything is written.

use crate::config::Config;
use garm_model::pool::{check_extra_specs, check_sizing, normalize_tags};
use garm_model::{BalancerType, OsArch, OsType, Secret};
use serde_json::Value;

/// The environment variables `garm bootstrap` reads; an empty value counts as unset.
pub mod vars {
    pub const ADMIN_USERNAME: &str = "GARM_ADMIN_USERNAME";
    pub const ADMIN_PASSWORD: &str = "GARM_ADMIN_PASSWORD";
    pub const ADMIN_EMAIL: &str = "GARM_ADMIN_EMAIL";
    pub const ADMIN_FULL_NAME: &str = "GARM_ADMIN_FULL_NAME";
    pub const BASE_URL: &str = "GARM_BASE_URL";
    pub const GITHUB_TOKEN: &str = "GARM_GITHUB_TOKEN";
    pub const GITHUB_ENDPOINT: &str = "GARM_GITHUB_ENDPOINT";
    pub const CREDENTIALS_NAME: &str = "GARM_CREDENTIALS_NAME";
    pub const REPO_OWNER: &str = "GARM_REPO_OWNER";
    pub const REPO_NAME: &str = "GARM_REPO_NAME";
    pub const WEBHOOK_SECRET: &str = "GARM_WEBHOOK_SECRET";
    pub const REPO_BALANCER_TYPE: &str = "GARM_REPO_BALANCER_TYPE";
    pub const POOL_PROVIDER: &str = "GARM_POOL_PROVIDER";
    pub const POOL_IMAGE: &str = "GARM_POOL_IMAGE";
    pub const POOL_FLAVOR: &str = "GARM_POOL_FLAVOR";
    pub const POOL_TAGS: &str = "GARM_POOL_TAGS";
    pub const POOL_MIN_IDLE_RUNNERS: &str = "GARM_POOL_MIN_IDLE_RUNNERS";
    pub const POOL_MAX_RUNNERS: &str = "GARM_POOL_MAX_RUNNERS";
    pub const POOL_EXTRA_SPECS: &str = "GARM_POOL_EXTRA_SPECS";
    pub const POOL_ENABLED: &str = "GARM_POOL_ENABLED";
    pub const POOL_OS_TYPE: &str = "GARM_POOL_OS_TYPE";
    pub const POOL_OS_ARCH: &str = "GARM_POOL_OS_ARCH";
    pub const POOL_RUNNER_PREFIX: &str = "GARM_POOL_RUNNER_PREFIX";
    pub const POOL_BOOTSTRAP_TIMEOUT: &str = "GARM_POOL_BOOTSTRAP_TIMEOUT";
    /// `pool` (the default: a webhook pool) or `scaleset` (a runner scale set: no webhook needed).
    pub const POOL_KIND: &str = "GARM_POOL_KIND";
    /// The scale set's name (its first label, what workflows put in `runs-on`).
    pub const SCALESET_NAME: &str = "GARM_SCALESET_NAME";

    /// The variables that hold secrets; their values never reach the output.
    pub const SECRETS: &[&str] = &[ADMIN_PASSWORD, GITHUB_TOKEN, WEBHOOK_SECRET];

    /// Every variable above.
    pub const ALL: &[&str] = &[
        ADMIN_USERNAME,
        ADMIN_PASSWORD,
        ADMIN_EMAIL,
        ADMIN_FULL_NAME,
        BASE_URL,
        GITHUB_TOKEN,
        GITHUB_ENDPOINT,
        CREDENTIALS_NAME,
        REPO_OWNER,
        REPO_NAME,
        WEBHOOK_SECRET,
        REPO_BALANCER_TYPE,
        POOL_PROVIDER,
        POOL_IMAGE,
        POOL_FLAVOR,
        POOL_TAGS,
        POOL_MIN_IDLE_RUNNERS,
        POOL_MAX_RUNNERS,
        POOL_EXTRA_SPECS,
        POOL_ENABLED,
        POOL_OS_TYPE,
        POOL_OS_ARCH,
        POOL_RUNNER_PREFIX,
        POOL_BOOTSTRAP_TIMEOUT,
        POOL_KIND,
        SCALESET_NAME,
    ];

    pub(super) const ADMIN: &[&str] = &[ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_EMAIL, ADMIN_FULL_NAME];
    pub(super) const REPO: &[&str] = &[REPO_OWNER, REPO_NAME, WEBHOOK_SECRET, REPO_BALANCER_TYPE];
    pub(super) const POOL: &[&str] = &[
        POOL_PROVIDER,
        POOL_IMAGE,
        POOL_FLAVOR,
        POOL_TAGS,
        POOL_MIN_IDLE_RUNNERS,
        POOL_MAX_RUNNERS,
        POOL_EXTRA_SPECS,
        POOL_ENABLED,
        POOL_OS_TYPE,
        POOL_OS_ARCH,
        POOL_RUNNER_PREFIX,
        POOL_BOOTSTRAP_TIMEOUT,
        POOL_KIND,
        SCALESET_NAME,
    ];
}

/// An input that is missing or invalid; the message names the variable, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{var} is required {because}")]
    Missing { var: &'static str, because: &'static str },
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

pub(super) fn invalid(var: &'static str, reason: impl Into<String>) -> InputError {
    InputError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// The admin user to create.
#[derive(Debug, Clone)]
pub struct AdminInput {
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub password: Secret,
}

/// Personal-access-token credentials to create.
#[derive(Debug, Clone)]
pub struct CredentialsInput {
    pub name: String,
    pub endpoint: String,
    pub token: Secret,
}

/// The repository to create.
#[derive(Debug, Clone)]
pub struct RepositoryInput {
    pub owner: String,
    pub name: String,
    pub credentials_name: String,
    pub webhook_secret: Secret,
    pub balancer: String,
}

/// The repository's pool to create; it is identified by its provider and its tags.
#[derive(Debug, Clone)]
pub struct PoolInput {
    pub provider: String,
    pub image: String,
    pub flavor: String,
    pub tags: Vec<String>,
    pub min_idle_runners: u32,
    pub max_runners: u32,
    pub extra_specs: Option<Value>,
    pub enabled: bool,
    pub os_type: String,
    pub os_arch: String,
    pub runner_prefix: String,
    pub bootstrap_timeout: u32,
    /// Set when a scale set is wanted instead of a pool: its name (the tags are its extra labels).
    pub scale_set: Option<String>,
}

/// Everything the environment asks for, checked; `None` means the step is skipped.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub admin: Option<AdminInput>,
    pub base_url: Option<String>,
    pub credentials: Option<CredentialsInput>,
    pub repository: Option<RepositoryInput>,
    pub pool: Option<PoolInput>,
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }
    fn any(&self, group: &[&str]) -> bool {
        group.iter().any(|v| self.get(v).is_some())
    }
    fn required(&self, var: &'static str, because: &'static str) -> Result<String, InputError> {
        self.get(var).ok_or(InputError::Missing { var, because })
    }
    fn number(&self, var: &'static str, default: u32) -> Result<u32, InputError> {
        match self.get(var) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| invalid(var, format!("{text:?} is not a whole number"))),
        }
    }
    fn flag(&self, var: &'static str, default: bool) -> Result<bool, InputError> {
        match self.get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(invalid(var, format!("{other:?} is not true or false"))),
        }
    }
}

impl Inputs {
    /// Reads and checks the variables with the API's rules: password strength (zxcvbn score 4),
    /// URL shape, pool sizing, tags, OS type and architecture, extra specs JSON, and that the
    /// pool's provider is configured.
    ///
    /// A step is wanted when any of its variables is set; its required variables must then be set.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>, config: &Config) -> Result<Self, InputError> {
        let env = Env(lookup);
        let admin = if env.any(vars::ADMIN) {
            let because = "to create the admin user";
            let username = env.required(vars::ADMIN_USERNAME, because)?;
            let email = env.required(vars::ADMIN_EMAIL, because)?;
            let password = env.required(vars::ADMIN_PASSWORD, because)?;
            if !crate::strength::strong(&password, &[&username, &email]) {
                return Err(invalid(
                    vars::ADMIN_PASSWORD,
                    "the password is too weak (use a long random one)",
                ));
            }
            let full_name = env.get(vars::ADMIN_FULL_NAME).unwrap_or_default();
            Some(AdminInput {
                username,
                email,
                full_name,
                password: Secret::new(password),
            })
        } else {
            None
        };

        let base_url = match env.get(vars::BASE_URL) {
            None => None,
            Some(text) => {
                let parsed = url::Url::parse(&text).map_err(|err| invalid(vars::BASE_URL, err.to_string()))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(invalid(vars::BASE_URL, "must be an http or https URL with a host"));
                }
                Some(text.trim_end_matches('/').to_string())
            }
        };

        let credentials_name = env.get(vars::CREDENTIALS_NAME).unwrap_or_else(|| "garm".into());
        let credentials = env.get(vars::GITHUB_TOKEN).map(|token| CredentialsInput {
            name: credentials_name.clone(),
            endpoint: env.get(vars::GITHUB_ENDPOINT).unwrap_or_else(|| "github.com".into()),
            token: Secret::new(token),
        });

        let repository = if env.any(vars::REPO) {
            let because = "to create the repository";
            let balancer = env.get(vars::REPO_BALANCER_TYPE).unwrap_or_else(|| "roundrobin".into());
            BalancerType::parse(&balancer).map_err(|reason| invalid(vars::REPO_BALANCER_TYPE, reason))?;
            Some(RepositoryInput {
                owner: env.required(vars::REPO_OWNER, because)?,
                name: env.required(vars::REPO_NAME, because)?,
                credentials_name,
                webhook_secret: Secret::new(env.required(vars::WEBHOOK_SECRET, because)?),
                balancer,
            })
        } else {
            None
        };

        let pool = if env.any(vars::POOL) {
            if repository.is_none() {
                return Err(InputError::Missing {
                    var: vars::REPO_OWNER,
                    because: "for the pool's repository",
                });
            }
            Some(pool_from_env(&env, config)?)
        } else {
            None
        };
        Ok(Self {
            admin,
            base_url,
            credentials,
            repository,
            pool,
        })
    }
}

fn pool_from_env(env: &Env<'_>, config: &Config) -> Result<PoolInput, InputError> {
    let because = "to create the pool";
    let setting = |var: &'static str| move |err: garm_model::PoolSettingsError| invalid(var, err.message);
    let provider = env.required(vars::POOL_PROVIDER, because)?;
    if config.provider(&provider).is_none() {
        let known: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        return Err(invalid(
            vars::POOL_PROVIDER,
            format!("no provider named {provider:?} is configured (known: {known:?})"),
        ));
    }
    let image = env.required(vars::POOL_IMAGE, because)?;
    let flavor = env.required(vars::POOL_FLAVOR, because)?;
    let scale_set = match env.get(vars::POOL_KIND).as_deref() {
        None | Some("pool") => None,
        Some("scaleset") => {
            let name = env.required(vars::SCALESET_NAME, "to create the scale set")?;
            garm_model::names::check_provider_value("name", &name).map_err(setting(vars::SCALESET_NAME))?;
            Some(name)
        }
        Some(other) => {
            return Err(invalid(
                vars::POOL_KIND,
                format!("{other:?} is neither \"pool\" nor \"scaleset\""),
            ))
        }
    };
    // A scale set's labels are optional (its name is always one); a pool needs its tags.
    let tag_text = match scale_set {
        Some(_) => env.get(vars::POOL_TAGS).unwrap_or_default(),
        None => env.required(vars::POOL_TAGS, because)?,
    };
    let raw_tags: Vec<String> = tag_text
        .split(',')
        .filter(|t| scale_set.is_none() || !t.trim().is_empty())
        .map(str::to_string)
        .collect();
    let tags = if raw_tags.is_empty() {
        Vec::new()
    } else {
        normalize_tags(&raw_tags).map_err(setting(vars::POOL_TAGS))?
    };
    let min_idle_runners = env.number(vars::POOL_MIN_IDLE_RUNNERS, 0)?;
    let max_runners = env.number(vars::POOL_MAX_RUNNERS, 5)?;
    check_sizing(min_idle_runners, max_runners).map_err(|err| match err.field {
        "max_runners" => invalid(vars::POOL_MAX_RUNNERS, err.message),
        _ => invalid(vars::POOL_MIN_IDLE_RUNNERS, err.message),
    })?;
    let extra_specs = match env.get(vars::POOL_EXTRA_SPECS) {
        None => None,
        Some(text) => {
            check_extra_specs(&text).map_err(setting(vars::POOL_EXTRA_SPECS))?;
            garm_attest::from_extra_specs(Some(&text)).map_err(|reason| invalid(vars::POOL_EXTRA_SPECS, reason))?;
            Some(serde_json::from_str(&text).expect("check_extra_specs accepted it as JSON"))
        }
    };
    let os_type =
        OsType::parse(&env.get(vars::POOL_OS_TYPE).unwrap_or_default()).map_err(setting(vars::POOL_OS_TYPE))?;
    let os_arch =
        OsArch::parse(&env.get(vars::POOL_OS_ARCH).unwrap_or_default()).map_err(setting(vars::POOL_OS_ARCH))?;
    Ok(PoolInput {
        provider,
        image,
        flavor,
        tags,
        min_idle_runners,
        max_runners,
        extra_specs,
        enabled: env.flag(vars::POOL_ENABLED, true)?,
        os_type: os_type.as_str().into(),
        os_arch: os_arch.as_str().into(),
        runner_prefix: env.get(vars::POOL_RUNNER_PREFIX).unwrap_or_default(),
        bootstrap_timeout: env.number(vars::POOL_BOOTSTRAP_TIMEOUT, 0)?,
        scale_set,
    })
}
