//! `proxy …`: named proxies, with garm's commands, flags and tables.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use crate::table::{Cell, Table};
use crate::value::{self, text};
use crate::Ctx;

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Create a proxy.
    #[command(visible_alias = "add")]
    Create(ProxyArgs),
    /// List proxies.
    #[command(visible_alias = "ls")]
    List,
    /// Show a proxy.
    Show { proxy: String },
    /// Update a proxy (only the flags given are changed).
    Update {
        proxy: String,
        #[command(flatten)]
        args: ProxyArgs,
    },
    /// Delete a proxy.
    #[command(visible_aliases = ["remove", "rm"])]
    Delete { proxy: String },
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Name of the proxy.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Proxy URL for plain HTTP requests.
    #[arg(long = "http-proxy")]
    pub http_proxy: Option<String>,
    /// Proxy URL for HTTPS requests.
    #[arg(long = "https-proxy")]
    pub https_proxy: Option<String>,
    /// Comma separated hosts, domains or CIDRs that bypass the proxy.
    #[arg(long = "no-proxy")]
    pub no_proxy: Option<String>,
    /// Username for the proxy (an empty one clears the credentials on update).
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
}

impl ProxyArgs {
    fn body(self) -> Value {
        let mut body = Map::new();
        for (key, value) in [
            ("name", self.name),
            ("description", self.description),
            ("http_proxy", self.http_proxy),
            ("https_proxy", self.https_proxy),
            ("no_proxy", self.no_proxy),
            ("username", self.username),
            ("password", self.password),
        ] {
            if let Some(value) = value {
                body.insert(key.into(), Value::String(value));
            }
        }
        Value::Object(body)
    }
}

/// `proxy …`.
pub fn proxy(ctx: &Ctx, cmd: ProxyCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match cmd {
        ProxyCommand::Create(args) => {
            if args.name.as_deref().is_none_or(str::is_empty) {
                anyhow::bail!("required flag(s) \"name\" not set");
            }
            let created = client.post("/proxies", &args.body())?;
            ctx.emit(&created, proxy_table);
        }
        ProxyCommand::List => {
            let all = client.get("/proxies").context("failed to list proxies")?;
            ctx.emit(&all, proxies_table);
        }
        ProxyCommand::Show { proxy } => {
            let id = crate::pool::resolve_proxy(&client, &proxy)?;
            let shown = client.get(&format!("/proxies/{id}"))?;
            ctx.emit(&shown, proxy_table);
        }
        ProxyCommand::Update { proxy, args } => {
            let id = crate::pool::resolve_proxy(&client, &proxy)?;
            let updated = client.put(&format!("/proxies/{id}"), &args.body())?;
            ctx.emit(&updated, proxy_table);
        }
        ProxyCommand::Delete { proxy } => {
            let id = crate::pool::resolve_proxy(&client, &proxy)?;
            client.delete(&format!("/proxies/{id}"), &[])?;
        }
    }
    Ok(())
}

/// garm's single-proxy view: optional rows only when set.
pub fn proxy_table(p: &Value) -> Table {
    let mut table = Table::fields();
    table.field("ID", value::cell(p, &["id"]));
    table.field("Created At", value::go_time(p, &["created_at"]));
    table.field("Updated At", value::go_time(p, &["updated_at"]));
    table.field("Name", text(p, &["name"]));
    for (label, key) in [
        ("Description", "description"),
        ("HTTP Proxy", "http_proxy"),
        ("HTTPS Proxy", "https_proxy"),
        ("No Proxy", "no_proxy"),
    ] {
        let v = text(p, &[key]);
        if !v.is_empty() {
            table.field(label, v);
        }
    }
    let username = text(p, &["username"]);
    table.field("Auth Enabled", !username.is_empty());
    if !username.is_empty() {
        table.field("Username", username);
    }
    table
}

/// garm's proxy list view.
pub fn proxies_table(all: &Value) -> Table {
    let mut table = Table::list(&["ID", "Name", "Description", "HTTP Proxy", "HTTPS Proxy", "Auth Enabled"]);
    for p in value::list(all) {
        table.row(vec![
            value::cell(p, &["id"]),
            Cell::from(text(p, &["name"])),
            Cell::from(text(p, &["description"])),
            Cell::from(text(p, &["http_proxy"])),
            Cell::from(text(p, &["https_proxy"])),
            Cell::from(!text(p, &["username"]).is_empty()),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_given_flags_are_sent_and_tables_match_garm() {
        let args = ProxyArgs {
            name: None,
            description: None,
            http_proxy: Some("http://p:3128".into()),
            https_proxy: None,
            no_proxy: None,
            username: Some(String::new()),
            password: None,
        };
        assert_eq!(args.body(), json!({"http_proxy": "http://p:3128", "username": ""}));
        let p = json!({"id": 1, "name": "corp", "http_proxy": "http://p:3128", "username": "svc"});
        let one = proxy_table(&p).render();
        assert!(
            one.contains("Auth Enabled") && one.contains("svc") && !one.contains("HTTPS Proxy"),
            "{one}"
        );
        let list = proxies_table(&json!([p])).render();
        assert!(list.contains("| AUTH ENABLED |") && list.contains("true"), "{list}");
    }
}
