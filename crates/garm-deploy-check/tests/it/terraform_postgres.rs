//! The PostgreSQL mode of `deploy/azure` (`database = "postgres"`, `replicas.tf`), parsed:
//! private access, TLS, where the password goes, the replica count's validation, one
//! configuration for every replica group, bootstrap once, and the gateway in front.

use crate::read;
use crate::terraform::{children, containers, expr, flag, list, string, text, Terraform, SECRET_SOURCES};
use hcl::{Body, Expression};

/// Every resource of the PostgreSQL mode, by kind and name.
const POSTGRES_RESOURCES: &[(&str, &str)] = &[
    ("azurerm_virtual_network", "garm"),
    ("azurerm_subnet", "containers"),
    ("azurerm_subnet", "postgres"),
    ("azurerm_subnet", "gateway"),
    ("azurerm_private_dns_zone", "postgres"),
    ("azurerm_private_dns_zone_virtual_network_link", "postgres"),
    ("random_password", "postgres_admin"),
    ("azurerm_postgresql_flexible_server", "garm"),
    ("azurerm_postgresql_flexible_server_configuration", "require_tls"),
    ("azurerm_postgresql_flexible_server_database", "garm"),
    ("azurerm_public_ip", "nat"),
    ("azurerm_nat_gateway", "garm"),
    ("azurerm_subnet_nat_gateway_association", "containers"),
    ("azurerm_public_ip", "front"),
    ("azurerm_application_gateway", "front"),
];

fn delegation(subnet: &Body) -> String {
    let delegation = children(subnet, "delegation");
    assert_eq!(delegation.len(), 1);
    let service = children(delegation[0], "service_delegation");
    string(service[0], "name").expect("a delegation names its service")
}

#[test]
fn postgres_mode_exists_only_when_chosen_and_sqlite_stays_the_default() {
    let tf = Terraform::load();
    let database = tf.block("variable", &["database"]);
    assert_eq!(string(database, "default").as_deref(), Some("sqlite"));
    assert_eq!(tf.local("postgres").to_string(), r#"var.database == "postgres""#);
    for (kind, name) in POSTGRES_RESOURCES {
        assert_eq!(
            text(tf.resource(kind, name), "count"),
            "local.postgres ? 1 : 0",
            "{kind}.{name} must exist in PostgreSQL mode only"
        );
    }
    assert_eq!(
        text(tf.resource("azurerm_container_group", "replica"), "count"),
        "local.postgres ? var.replica_count : 0"
    );
}

#[test]
fn postgres_mode_subnets_are_delegated_and_the_server_has_private_access_only() {
    let tf = Terraform::load();
    assert_eq!(
        delegation(tf.resource("azurerm_subnet", "containers")),
        "Microsoft.ContainerInstance/containerGroups"
    );
    assert_eq!(
        delegation(tf.resource("azurerm_subnet", "postgres")),
        "Microsoft.DBforPostgreSQL/flexibleServers"
    );
    assert!(children(tf.resource("azurerm_subnet", "gateway"), "delegation").is_empty());
    let server = tf.resource("azurerm_postgresql_flexible_server", "garm");
    assert!(
        matches!(
            expr(server, "public_network_access_enabled"),
            Some(Expression::Bool(false))
        ),
        "the server must not be reachable from the internet"
    );
    assert_eq!(text(server, "delegated_subnet_id"), "azurerm_subnet.postgres[0].id");
    assert_eq!(
        text(server, "private_dns_zone_id"),
        "azurerm_private_dns_zone.postgres[0].id"
    );
    assert_eq!(
        text(server, "administrator_password"),
        "random_password.postgres_admin[0].result"
    );
    let zone = text(tf.resource("azurerm_private_dns_zone", "postgres"), "name");
    assert!(zone.ends_with(".postgres.database.azure.com\""), "{zone}");
    let link = tf.resource("azurerm_private_dns_zone_virtual_network_link", "postgres");
    assert_eq!(text(link, "virtual_network_id"), "azurerm_virtual_network.garm[0].id");
    assert_eq!(
        text(link, "private_dns_zone_name"),
        "azurerm_private_dns_zone.postgres[0].name"
    );
    // TLS: required by the server, asked for by garm's URL.
    let tls = tf.resource("azurerm_postgresql_flexible_server_configuration", "require_tls");
    assert_eq!(string(tls, "name").as_deref(), Some("require_secure_transport"));
    assert_eq!(string(tls, "value").as_deref(), Some("on"));
    let url = tf.local("database_url").to_string();
    assert!(url.contains("?sslmode=require"), "{url}");
    assert!(url.contains("server.fqdn"), "{url}");
    // The replicas reach the internet through the NAT gateway, their subnet through its association.
    let nat = tf.resource("azurerm_subnet_nat_gateway_association", "containers");
    assert_eq!(text(nat, "subnet_id"), "azurerm_subnet.containers[0].id");
}

#[test]
fn the_postgres_password_reaches_garm_only_as_a_secure_variable_and_never_an_output() {
    let tf = Terraform::load();
    for output in tf.blocks.iter().filter(|b| b.identifier() == "output") {
        let value = text(output.body(), "value");
        for secret in [
            "postgres_admin",
            "database_url",
            "replica_secrets",
            "administrator_password",
        ] {
            assert!(
                !value.contains(secret),
                "output {} carries {secret}",
                output.labels()[0].as_str()
            );
        }
    }
    assert_eq!(
        text(tf.block("output", &["postgres_server_name"]), "value"),
        "one(azurerm_postgresql_flexible_server.garm[*].name)"
    );
    let group = tf.resource("azurerm_container_group", "replica");
    let garm = containers(group)["garm"];
    assert_eq!(text(garm, "secure_environment_variables"), "local.replica_secrets");
    assert!(expr(garm, "environment_variables").is_none());
    let secrets = tf.local("replica_secrets").to_string();
    assert!(secrets.contains("GARM_DATABASE_URL = local.database_url"), "{secrets}");
    // The mounted files carry placeholders only.
    let files = tf.local("replica_config_files").to_string();
    for source in SECRET_SOURCES.iter().chain(&["database_url"]) {
        assert!(!files.contains(source), "a secret is written into the mounted files");
    }
    let config = rendered_postgres_config();
    assert_eq!(config["database"]["backend"].as_str(), Some("postgresql"));
    assert_eq!(
        config["database"]["postgresql"]["url"].as_str(),
        Some("${GARM_DATABASE_URL}")
    );
    assert_eq!(config["database"]["passphrase"].as_str(), Some("${GARM_DB_PASSPHRASE}"));
    assert_eq!(config["jwt_auth"]["secret"].as_str(), Some("${GARM_JWT_SECRET}"));
    assert_eq!(config["apiserver"]["port"].as_integer(), Some(9997));
    assert_eq!(
        config["apiserver"]["trusted_proxies"].as_array().unwrap()[0].as_str(),
        Some("10.40.3.0/24")
    );
}

/// `templates/config-postgres.toml.tftpl` rendered with the default gateway subnet.
fn rendered_postgres_config() -> toml::Table {
    let sentinel = "\u{0}";
    let text = read("deploy/azure/templates/config-postgres.toml.tftpl")
        .replace("$${", sentinel)
        .replace("${log_level}", "info")
        .replace("${provider_name}", "azure_external")
        .replace("${gateway_subnet}", "10.40.3.0/24")
        .replace(sentinel, "${");
    assert!(
        !text.contains("${log_level") && !text.contains("${gateway_subnet"),
        "{text}"
    );
    text.parse()
        .unwrap_or_else(|err| panic!("the rendered config is not TOML: {err}\n{text}"))
}

#[test]
fn replica_count_above_one_is_refused_without_postgres() {
    let tf = Terraform::load();
    let count = tf.block("variable", &["replica_count"]);
    assert_eq!(text(count, "default"), "1");
    let rule = children(count, "validation")
        .into_iter()
        .map(|v| expr(v, "condition").unwrap().clone())
        .find(|c| c.to_string().contains("var.database"))
        .expect("a validation of replica_count against var.database");
    for (replicas, database, allowed) in [
        (1, "sqlite", true),
        (2, "sqlite", false),
        (3, "sqlite", false),
        (1, "postgres", true),
        (3, "postgres", true),
    ] {
        let mut ctx = hcl::eval::Context::new();
        let mut var = hcl::Map::new();
        var.insert("replica_count".to_string(), hcl::Value::from(replicas));
        var.insert("database".to_string(), hcl::Value::from(database));
        ctx.declare_var("var", hcl::Value::Object(var));
        let verdict = hcl::eval::Evaluate::evaluate(&rule, &ctx).unwrap();
        assert_eq!(verdict, hcl::Value::Bool(allowed), "{replicas} replicas on {database}");
    }
}

#[test]
fn every_replica_group_gets_the_same_config_and_only_the_first_runs_bootstrap() {
    let tf = Terraform::load();
    let group = tf.resource("azurerm_container_group", "replica");
    assert_eq!(string(group, "ip_address_type").as_deref(), Some("Private"));
    assert_eq!(text(group, "subnet_ids"), "[\n  azurerm_subnet.containers[0].id\n]");
    assert_eq!(text(group, "name"), r#""${local.group_name}-${count.index}""#);
    // count.index picks the name and whether bootstrap runs; nothing else differs per group.
    let whole = hcl::to_string(group).unwrap();
    assert_eq!(whole.matches("count.index").count(), 2, "{whole}");
    let init = group
        .blocks()
        .find(|b| b.identifier() == "dynamic" && b.labels()[0].as_str() == "init_container")
        .expect("the init container is dynamic")
        .body();
    assert_eq!(text(init, "for_each"), "count.index == 0 ? [1] : []");
    assert!(
        children(group, "init_container").is_empty(),
        "no unconditional init container"
    );
    let content = children(init, "content")[0];
    assert_eq!(string(content, "name").as_deref(), Some("bootstrap"));
    assert_eq!(
        list(content, "commands"),
        ["garm-entrypoint", "bootstrap"],
        "the same idempotent setup as SQLite mode"
    );
    assert_eq!(text(content, "environment_variables"), "local.replica_bootstrap_env");
    assert!(tf
        .local("replica_bootstrap_env")
        .to_string()
        .contains(r#"name != "GARM_RESTORE_FROM""#));
    let garm = containers(group)["garm"];
    for volume in children(garm, "volume").into_iter().chain(children(content, "volume")) {
        assert_eq!(text(volume, "secret"), "local.replica_config_files");
        assert!(expr(volume, "share_name").is_none(), "replicas mount no file share");
    }
    let files = tf.local("replica_config_files").to_string();
    assert!(!files.contains("count."), "{files}");
    let readiness = children(garm, "readiness_probe");
    assert_eq!(
        string(children(readiness[0], "http_get")[0], "path").as_deref(),
        Some("/readyz")
    );
}

#[test]
fn the_front_terminates_tls_and_sends_to_every_ready_replica() {
    let tf = Terraform::load();
    let gateway = tf.resource("azurerm_application_gateway", "front");
    let sku = children(gateway, "sku")[0];
    assert_eq!(string(sku, "tier").as_deref(), Some("Standard_v2"));
    let pool = children(gateway, "backend_address_pool")[0];
    assert_eq!(
        text(pool, "ip_addresses"),
        "azurerm_container_group.replica[*].ip_address"
    );
    let probe = children(gateway, "probe")[0];
    assert_eq!(string(probe, "path").as_deref(), Some("/readyz"));
    let settings = children(gateway, "backend_http_settings")[0];
    assert_eq!(text(settings, "port"), "9997");
    assert_eq!(string(settings, "probe_name").as_deref(), Some("readyz"));
    let listener = children(gateway, "http_listener")[0];
    assert_eq!(string(listener, "protocol").as_deref(), Some("Https"));
    let certificate = children(gateway, "ssl_certificate")[0];
    assert_eq!(text(certificate, "data"), "var.tls_certificate_pfx");
    for name in ["tls_certificate_pfx", "tls_certificate_password"] {
        assert!(flag(tf.block("variable", &[name]), "sensitive"), "{name}");
    }
    // The controller's URLs (bootstrap's GARM_BASE_URL) are the front's.
    assert!(tf
        .local("fqdn")
        .to_string()
        .starts_with("local.postgres ? local.front_fqdn"));
    let front = tf.local("front_fqdn").to_string();
    assert!(
        front.contains("var.front_hostname") && front.contains(".cloudapp.azure.com"),
        "{front}"
    );
    assert_eq!(tf.local("base_url").to_string(), r#""https://${local.fqdn}""#);
    assert!(tf
        .local("bootstrap_env")
        .to_string()
        .contains("GARM_BASE_URL = local.base_url"));
    assert_eq!(
        text(tf.block("output", &["front_public_ip"]), "value"),
        "one(azurerm_public_ip.front[*].ip_address)"
    );
}
