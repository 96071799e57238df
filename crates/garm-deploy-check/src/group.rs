//! The container group of `deploy/azure` as ACI receives it, rendered from the Terraform.
//!
//! [`render`] evaluates the variables, the locals and the `azurerm_container_group` resource
//! with `hcl-rs` (Terraform's functions the files use are implemented here: `base64encode`,
//! `templatefile`, `merge`, `jsonencode`, `tostring`, `join`), with stand-ins for what only
//! Azure knows (names, keys, generated passwords; [`Inputs`]). It then builds the group's
//! volume list the way the azurerm provider (4.x, `expandContainerVolume`) does: every
//! container's `volume` blocks, init containers first, in order, with same-named `empty_dir`
//! volumes merged and every other volume appended as it is. [`Group::problems`] lists what ACI
//! refuses, `DuplicateVolumes` among it.
//!
//! `cargo xtask aci-local` runs the rendered group with Docker; the tests in `tests/it` check it.

use base64::Engine;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `deploy/azure` of this workspace.
pub fn terraform_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/azure")
}

/// Every top-level block of the `.tf` files in `dir`, files in name order.
pub fn load(dir: &Path) -> Result<Vec<Block>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|err| format!("{}: {err}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    let mut blocks = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|err| format!("{}: {err}", file.display()))?;
        let body = hcl::parse(&text).map_err(|err| format!("{}: {err}", file.display()))?;
        blocks.extend(body.blocks().cloned());
    }
    Ok(blocks)
}

/// What rendering needs besides the files: variable values, and stand-ins for the attributes
/// Terraform learns from Azure (`azurerm_storage_account.state.primary_access_key`, …).
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `var.<name>`, over the variables' defaults.
    pub variables: BTreeMap<String, Value>,
    /// `<resource type>.<name>.<attribute>` and `data.<type>.<name>.<attribute>`.
    pub attributes: BTreeMap<String, Value>,
}

impl Inputs {
    /// Plausible stand-ins, with the given generated secrets (JWT secret, database passphrase,
    /// admin password, webhook secret) and the required variables.
    pub fn stand_ins(secrets: &Secrets, variables: &[(&str, Value)]) -> Self {
        let mut attributes = BTreeMap::new();
        let mut set = |path: &str, value: &str| {
            attributes.insert(path.to_string(), Value::from(value));
        };
        set("random_string.suffix.result", "loc4l1");
        set("azurerm_resource_group.garm.name", "garm");
        set("azurerm_resource_group.garm.location", "westeurope");
        set("azurerm_container_registry.garm.login_server", "garmloc4l1.azurecr.io");
        set("azurerm_container_registry.garm.name", "garmloc4l1");
        set("azurerm_storage_account.state.name", "garmloc4l1");
        set("azurerm_storage_account.state.primary_access_key", "c3RhbmQtaW4ga2V5");
        set(
            "azurerm_user_assigned_identity.garm.id",
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/garm/providers/Microsoft.ManagedIdentity/userAssignedIdentities/garm",
        );
        set(
            "azurerm_user_assigned_identity.garm.client_id",
            "11111111-1111-1111-1111-111111111111",
        );
        set(
            "azurerm_user_assigned_identity.garm.principal_id",
            "22222222-2222-2222-2222-222222222222",
        );
        set(
            "data.azurerm_subscription.current.subscription_id",
            "00000000-0000-0000-0000-000000000000",
        );
        set(
            "data.azurerm_subscription.current.id",
            "/subscriptions/00000000-0000-0000-0000-000000000000",
        );
        set("random_password.jwt_secret.result", &secrets.jwt_secret);
        set("random_password.db_passphrase.result", &secrets.db_passphrase);
        set("random_password.admin_password.result", &secrets.admin_password);
        set("random_password.webhook_secret.result", &secrets.webhook_secret);
        Self {
            variables: variables.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            attributes,
        }
    }
}

/// The generated secrets of the deployment (`random_password.*`).
#[derive(Debug, Clone)]
pub struct Secrets {
    pub jwt_secret: String,
    pub db_passphrase: String,
    pub admin_password: String,
    pub webhook_secret: String,
}

/// A group volume, as ACI receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    EmptyDir,
    /// File name → base64 content.
    Secret(BTreeMap<String, String>),
    AzureFile {
        share_name: String,
        storage_account_name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub name: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub volume: String,
    pub mount_path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: String,
    /// ACI's `command`: replaces the image's entry point and command.
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub secure_environment: BTreeMap<String, String>,
    pub ports: Vec<u16>,
    pub mounts: Vec<Mount>,
    /// The liveness probe's command, if any.
    pub liveness: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub dns_name_label: String,
    pub dns_name_label_reuse_policy: Option<String>,
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    /// The group's volumes after the provider's merge.
    pub volumes: Vec<Volume>,
}

impl Group {
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers
            .iter()
            .chain(&self.init_containers)
            .find(|c| c.name == name)
    }

    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// What ACI would refuse, one line each; empty when the group is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for volume in &self.volumes {
            *counts.entry(volume.name.as_str()).or_default() += 1;
        }
        for (name, count) in &counts {
            if *count > 1 {
                out.push(format!(
                    "DuplicateVolumes: the group declares volume `{name}` {count} times"
                ));
            }
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for container in self.init_containers.iter().chain(&self.containers) {
            *names.entry(container.name.as_str()).or_default() += 1;
            let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
            for mount in &container.mounts {
                if !counts.contains_key(mount.volume.as_str()) {
                    out.push(format!("{}: mounts unknown volume `{}`", container.name, mount.volume));
                }
                *paths.entry(mount.mount_path.as_str()).or_default() += 1;
            }
            for (path, count) in paths {
                if count > 1 {
                    out.push(format!("{}: {count} volumes mounted at {path}", container.name));
                }
            }
            if container.command.is_empty() {
                out.push(format!("{}: no command", container.name));
            }
        }
        for (name, count) in names {
            if count > 1 {
                out.push(format!("container name `{name}` is used {count} times"));
            }
        }
        for init in &self.init_containers {
            if !init.ports.is_empty() {
                out.push(format!("init container {} has ports", init.name));
            }
        }
        out
    }
}

/// Renders the container group of the Terraform in `dir`.
pub fn render(dir: &Path, inputs: &Inputs) -> Result<Group, String> {
    let blocks = load(dir)?;
    let mut ctx = Context::new();
    declare_functions(&mut ctx);

    // var.*: the defaults, then the given values; a variable without either stops here.
    let mut vars = hcl::Map::new();
    for block in blocks.iter().filter(|b| b.identifier() == "variable") {
        let name = block.labels()[0].as_str().to_string();
        let value = match inputs.variables.get(&name) {
            Some(value) => value.clone(),
            None => match attribute(block.body(), "default") {
                Some(expr) => expr.evaluate(&ctx).map_err(|err| format!("var.{name}: {err}"))?,
                None => return Err(format!("var.{name} has no default: give it a value")),
            },
        };
        vars.insert(name, value);
    }
    for name in inputs.variables.keys() {
        if !vars.contains_key(name) {
            return Err(format!("var.{name} is not declared"));
        }
    }
    ctx.declare_var("var", Value::Object(vars));
    ctx.declare_var(
        "path",
        Value::Object(
            [("module".to_string(), Value::from(dir.display().to_string()))]
                .into_iter()
                .collect(),
        ),
    );
    // Attributes the files give literally (`azurerm_storage_share.state.name = "garm-state"`)
    // are known without Azure; the stand-ins cover the rest.
    let mut attributes = inputs.attributes.clone();
    for block in blocks.iter().filter(|b| b.identifier() == "resource") {
        let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
        for attr in block.body().attributes() {
            if let Expression::String(_) | Expression::Number(_) | Expression::Bool(_) = attr.expr() {
                attributes
                    .entry(format!("{}.{}.{}", labels[0], labels[1], attr.key()))
                    .or_insert_with(|| Value::from(attr.expr().clone()));
            }
        }
    }
    for (root, value) in nest(&attributes) {
        ctx.declare_var(root, value);
    }

    // local.*, in as many passes as their references need.
    let mut pending: Vec<(String, Expression)> = blocks
        .iter()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes().map(|a| (a.key().to_string(), a.expr().clone())))
        .collect();
    let mut locals = hcl::Map::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut still = Vec::new();
        let mut scope = ctx.clone();
        scope.declare_var("local", Value::Object(locals.clone()));
        for (name, expr) in pending {
            match expr.evaluate(&scope) {
                Ok(value) => {
                    locals.insert(name, value);
                }
                Err(_) => still.push((name, expr)),
            }
        }
        // What is left needs the group itself (the outputs' `local.az_group`) or fails; the
        // group's own evaluation names any of these it needs.
        if still.len() == before {
            break;
        }
        pending = still;
    }
    ctx.declare_var("local", Value::Object(locals));

    let group = blocks
        .iter()
        .find(|b| {
            b.identifier() == "resource"
                && b.labels()
                    .iter()
                    .map(|l| l.as_str())
                    .eq(["azurerm_container_group", "garm"])
        })
        .ok_or("no resource azurerm_container_group.garm")?
        .body();
    let string_attr = |name: &str| -> Result<Option<String>, String> {
        attribute(group, name)
            .map(|expr| {
                expr.evaluate(&ctx)
                    .map_err(|err| format!("{name}: {err}"))
                    .and_then(|v| text(&v, name))
            })
            .transpose()
    };
    let dns_name_label = string_attr("dns_name_label")?.unwrap_or_default();
    let dns_name_label_reuse_policy = string_attr("dns_name_label_reuse_policy")?;

    let mut out = Group {
        dns_name_label,
        dns_name_label_reuse_policy,
        init_containers: Vec::new(),
        containers: Vec::new(),
        volumes: Vec::new(),
    };
    // The provider's addedEmptyDirs, shared by init containers and containers.
    let mut empty_dirs: Vec<String> = Vec::new();
    for (kind, list) in [("init_container", 0), ("container", 1)] {
        for block in group.blocks().filter(|b| b.identifier() == kind) {
            let body: Body = block.body().evaluate(&ctx).map_err(|err| format!("{kind}: {err}"))?;
            let (container, volumes) = container(&body)?;
            for volume in volumes {
                if volume.source == Source::EmptyDir {
                    if empty_dirs.contains(&volume.name) {
                        continue;
                    }
                    empty_dirs.push(volume.name.clone());
                }
                out.volumes.push(volume);
            }
            if list == 0 {
                out.init_containers.push(container);
            } else {
                out.containers.push(container);
            }
        }
    }
    Ok(out)
}

fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn text(value: &Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("{what} is not a string: {other:?}")),
    }
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, String> {
    match value {
        Value::Array(items) => items.iter().map(|i| text(i, what)).collect(),
        other => Err(format!("{what} is not a list: {other:?}")),
    }
}

fn string_map(value: &Value, what: &str) -> Result<BTreeMap<String, String>, String> {
    match value {
        Value::Object(map) => map.iter().map(|(k, v)| Ok((k.clone(), text(v, what)?))).collect(),
        other => Err(format!("{what} is not a map: {other:?}")),
    }
}

fn value_of(body: &Body, key: &str) -> Option<Value> {
    attribute(body, key).map(|e| Value::from(e.clone()))
}

/// One evaluated container block: the container and the volumes it declares.
fn container(body: &Body) -> Result<(Container, Vec<Volume>), String> {
    let name = text(&value_of(body, "name").ok_or("a container without a name")?, "name")?;
    let get = |key: &str| value_of(body, key);
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for volume in body.blocks().filter(|b| b.identifier() == "volume") {
        let v = volume.body();
        let vname = text(&value_of(v, "name").ok_or("a volume without a name")?, "volume name")?;
        let mount_path = text(
            &value_of(v, "mount_path").ok_or("a volume without mount_path")?,
            "mount_path",
        )?;
        let read_only = matches!(value_of(v, "read_only"), Some(Value::Bool(true)));
        let source = if matches!(value_of(v, "empty_dir"), Some(Value::Bool(true))) {
            Source::EmptyDir
        } else if let Some(secret) = value_of(v, "secret") {
            Source::Secret(string_map(&secret, "secret")?)
        } else {
            let field = |key: &str| -> Result<String, String> {
                text(
                    &value_of(v, key).ok_or(format!("{name}/{vname}: a storage volume needs {key}"))?,
                    key,
                )
            };
            field("storage_account_key")?;
            Source::AzureFile {
                share_name: field("share_name")?,
                storage_account_name: field("storage_account_name")?,
            }
        };
        mounts.push(Mount {
            volume: vname.clone(),
            mount_path,
            read_only,
        });
        volumes.push(Volume { name: vname, source });
    }
    let ports = body
        .blocks()
        .filter(|b| b.identifier() == "ports")
        .map(|p| {
            let port = text(&value_of(p.body(), "port").ok_or("ports without port")?, "port")?;
            port.parse::<u16>().map_err(|_| format!("port {port}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let liveness = match body.blocks().find(|b| b.identifier() == "liveness_probe") {
        Some(probe) => value_of(probe.body(), "exec")
            .map(|v| strings(&v, "exec"))
            .transpose()?
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let container = Container {
        image: text(&get("image").ok_or(format!("{name}: no image"))?, "image")?,
        command: get("commands")
            .map(|v| strings(&v, "commands"))
            .transpose()?
            .unwrap_or_default(),
        environment: get("environment_variables")
            .map(|v| string_map(&v, "environment_variables"))
            .transpose()?
            .unwrap_or_default(),
        secure_environment: get("secure_environment_variables")
            .map(|v| string_map(&v, "secure_environment_variables"))
            .transpose()?
            .unwrap_or_default(),
        ports,
        mounts,
        liveness,
        name,
    };
    Ok((container, volumes))
}

/// `a.b.c = v` pairs as nested objects, by their first segment.
fn nest(flat: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut roots: BTreeMap<String, Value> = BTreeMap::new();
    for (path, value) in flat {
        let parts: Vec<&str> = path.split('.').collect();
        let mut node = roots
            .entry(parts[0].to_string())
            .or_insert_with(|| Value::Object(hcl::Map::new()));
        for part in &parts[1..parts.len() - 1] {
            let Value::Object(map) = node else {
                unreachable!("{path}")
            };
            node = map
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(hcl::Map::new()));
        }
        if let Value::Object(map) = node {
            map.insert(parts[parts.len() - 1].to_string(), value.clone());
        }
    }
    roots
}

fn declare_functions(ctx: &mut Context) {
    ctx.declare_func(
        "base64encode",
        FuncDef::builder().param(ParamType::String).build(base64encode),
    );
    ctx.declare_func(
        "templatefile",
        FuncDef::builder()
            .param(ParamType::String)
            .param(ParamType::Any)
            .build(templatefile),
    );
    ctx.declare_func("merge", FuncDef::builder().variadic_param(ParamType::Any).build(merge));
    ctx.declare_func("jsonencode", FuncDef::builder().param(ParamType::Any).build(jsonencode));
    ctx.declare_func("tostring", FuncDef::builder().param(ParamType::Any).build(tostring));
    ctx.declare_func(
        "join",
        FuncDef::builder()
            .param(ParamType::String)
            .param(ParamType::Array(Box::new(ParamType::Any)))
            .build(join),
    );
}

fn base64encode(args: FuncArgs) -> Result<Value, String> {
    let text = args[0].as_str().ok_or("base64encode takes a string")?;
    Ok(Value::from(base64::engine::general_purpose::STANDARD.encode(text)))
}

fn templatefile(args: FuncArgs) -> Result<Value, String> {
    let path = args[0].as_str().ok_or("templatefile takes a path")?;
    let text = std::fs::read_to_string(path).map_err(|err| format!("{path}: {err}"))?;
    let template: hcl::Template = text.parse().map_err(|err| format!("{path}: {err}"))?;
    let Value::Object(vars) = &args[1] else {
        return Err("templatefile's variables are an object".into());
    };
    let mut ctx = Context::new();
    for (name, value) in vars {
        ctx.declare_var(name.clone(), value.clone());
    }
    template
        .evaluate(&ctx)
        .map(Value::from)
        .map_err(|err| format!("{path}: {err}"))
}

fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for arg in args.iter() {
        match arg {
            Value::Object(map) => out.extend(map.clone()),
            Value::Null => {}
            other => return Err(format!("merge takes objects, not {other:?}")),
        }
    }
    Ok(Value::Object(out))
}

fn jsonencode(args: FuncArgs) -> Result<Value, String> {
    serde_json::to_string(&args[0])
        .map(Value::from)
        .map_err(|err| err.to_string())
}

fn tostring(args: FuncArgs) -> Result<Value, String> {
    text(&args[0], "tostring's argument").map(Value::from)
}

fn join(args: FuncArgs) -> Result<Value, String> {
    let separator = args[0].as_str().ok_or("join takes a separator")?;
    let items = strings(&args[1], "join's list")?;
    Ok(Value::from(items.join(separator)))
}

/// Decodes a secret volume's file.
pub fn secret_file(volume: &Volume, file: &str) -> Option<String> {
    match &volume.source {
        Source::Secret(files) => files
            .get(file)
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        _ => None,
    }
}
