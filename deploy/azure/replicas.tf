# PostgreSQL mode (var.database = "postgres"): garm as `replica_count` active replicas on one
# Azure Database for PostgreSQL flexible server (docs/high-availability.md).
#
# Everything here has `count = 0` in the default SQLite mode, which stays as it was.
#
#   internet ──443──► Application Gateway v2 (public IP, TLS with the operator's certificate)
#                        │ HTTP to :9997, health probe GET /readyz
#                        ▼
#   subnet "containers" (delegated to ACI): garm-0 … garm-N-1, private IPs only; outbound
#                        │ through a NAT gateway (GitHub, ARM, Entra ID)
#                        ▼ TLS (sslmode=require), private DNS
#   subnet "postgres" (delegated to the flexible server): garm's database, no public access
#
# Why an Application Gateway: container groups in a virtual network get no public IP or DNS
# label, and Azure Load Balancer in front of them is not supported by ACI; the gateway is the
# front Azure documents for them, it probes each replica's /readyz and stops sending to one that
# is down or cannot reach the database, and it terminates TLS, so no replica needs Caddy or a
# certificate of its own. Its certificate is a PFX the operator gives (tls_certificate_pfx):
# Let's Encrypt's HTTP challenge, which Caddy answers in SQLite mode, has no place to run here.

locals {
  postgres = var.database == "postgres"
  # The front's name, which its certificate names: the operator's, or its public IP's DNS name.
  front_fqdn = var.front_hostname != "" ? var.front_hostname : "${local.dns_name_label}.${azurerm_resource_group.garm.location}.cloudapp.azure.com"

  vnet_cidr       = var.vnet_address_space
  containers_cidr = cidrsubnet(local.vnet_cidr, 8, 1)
  postgres_cidr   = cidrsubnet(local.vnet_cidr, 8, 2)
  gateway_cidr    = cidrsubnet(local.vnet_cidr, 8, 3)

  # The same files for every replica: nothing below depends on count.index.
  replica_config_files = {
    "config.toml" = base64encode(templatefile("${path.module}/templates/config-postgres.toml.tftpl", {
      log_level      = var.log_level
      provider_name  = local.provider_name
      gateway_subnet = local.gateway_cidr
    }))
    "garm-provider-azure.toml" = local.config_files["garm-provider-azure.toml"]
  }

  # The database URL garm gets, password included: a secure variable, never an output.
  # random_password.postgres_admin has no special characters, so it needs no URL escaping.
  # (A `for` over the servers, so nothing is indexed in SQLite mode, where there are none.)
  database_url = join("", [
    for server in azurerm_postgresql_flexible_server.garm :
    "postgres://${var.postgres_admin_login}:${one(random_password.postgres_admin[*].result)}@${server.fqdn}:5432/garm?sslmode=require"
  ])

  replica_secrets = merge(local.config_secrets, { GARM_DATABASE_URL = local.database_url })

  # `garm bootstrap` input of the first replica: the SQLite mode's, without the snapshot restore.
  replica_bootstrap_env     = { for name, value in local.bootstrap_env : name => value if name != "GARM_RESTORE_FROM" }
  replica_bootstrap_secrets = merge(local.bootstrap_secrets, local.replica_secrets)
}

resource "azurerm_virtual_network" "garm" {
  count               = local.postgres ? 1 : 0
  name                = "garm-${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  address_space       = [local.vnet_cidr]
  tags                = var.tags
}

resource "azurerm_subnet" "containers" {
  count                = local.postgres ? 1 : 0
  name                 = "containers"
  resource_group_name  = azurerm_resource_group.garm.name
  virtual_network_name = azurerm_virtual_network.garm[0].name
  address_prefixes     = [local.containers_cidr]

  delegation {
    name = "aci"
    service_delegation {
      name    = "Microsoft.ContainerInstance/containerGroups"
      actions = ["Microsoft.Network/virtualNetworks/subnets/action"]
    }
  }
}

resource "azurerm_subnet" "postgres" {
  count                = local.postgres ? 1 : 0
  name                 = "postgres"
  resource_group_name  = azurerm_resource_group.garm.name
  virtual_network_name = azurerm_virtual_network.garm[0].name
  address_prefixes     = [local.postgres_cidr]

  delegation {
    name = "postgres"
    service_delegation {
      name    = "Microsoft.DBforPostgreSQL/flexibleServers"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

# The Application Gateway needs a subnet of its own, without delegation.
resource "azurerm_subnet" "gateway" {
  count                = local.postgres ? 1 : 0
  name                 = "gateway"
  resource_group_name  = azurerm_resource_group.garm.name
  virtual_network_name = azurerm_virtual_network.garm[0].name
  address_prefixes     = [local.gateway_cidr]
}

# Outbound for the replicas (GitHub, ARM, Entra ID, the registry): explicit, since subnets no
# longer get default outbound access.
resource "azurerm_public_ip" "nat" {
  count               = local.postgres ? 1 : 0
  name                = "garm-nat-${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway" "garm" {
  count               = local.postgres ? 1 : 0
  name                = "garm-${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  sku_name            = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway_public_ip_association" "garm" {
  count                = local.postgres ? 1 : 0
  nat_gateway_id       = azurerm_nat_gateway.garm[0].id
  public_ip_address_id = azurerm_public_ip.nat[0].id
}

resource "azurerm_subnet_nat_gateway_association" "containers" {
  count          = local.postgres ? 1 : 0
  subnet_id      = azurerm_subnet.containers[0].id
  nat_gateway_id = azurerm_nat_gateway.garm[0].id
}

# Private access: the server's name resolves, inside the virtual network only, through this zone.
resource "azurerm_private_dns_zone" "postgres" {
  count               = local.postgres ? 1 : 0
  name                = "garm-${local.suffix}.private.postgres.database.azure.com"
  resource_group_name = azurerm_resource_group.garm.name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "postgres" {
  count                 = local.postgres ? 1 : 0
  name                  = "garm-${local.suffix}"
  resource_group_name   = azurerm_resource_group.garm.name
  private_dns_zone_name = azurerm_private_dns_zone.postgres[0].name
  virtual_network_id    = azurerm_virtual_network.garm[0].id
  registration_enabled  = false
}

# Lives in the Terraform state (keep the state private, backend.tf.example) and reaches garm only
# as a secure environment variable.
resource "random_password" "postgres_admin" {
  count   = local.postgres ? 1 : 0
  length  = 40
  special = false
}

resource "azurerm_postgresql_flexible_server" "garm" {
  count                         = local.postgres ? 1 : 0
  name                          = "garm-${local.suffix}"
  resource_group_name           = azurerm_resource_group.garm.name
  location                      = azurerm_resource_group.garm.location
  version                       = var.postgres_version
  sku_name                      = var.postgres_sku
  storage_mb                    = var.postgres_storage_mb
  backup_retention_days         = var.postgres_backup_retention_days
  delegated_subnet_id           = azurerm_subnet.postgres[0].id
  private_dns_zone_id           = azurerm_private_dns_zone.postgres[0].id
  public_network_access_enabled = false
  administrator_login           = var.postgres_admin_login
  administrator_password        = random_password.postgres_admin[0].result
  tags                          = var.tags

  # Zone-redundant: a synchronous standby in another zone, promoted when the primary's zone
  # fails (var.postgres_high_availability).
  dynamic "high_availability" {
    for_each = var.postgres_high_availability ? [1] : []
    content {
      mode = "ZoneRedundant"
    }
  }

  lifecycle {
    # Azure picks the zones; after a failover primary and standby have swapped them.
    ignore_changes = [zone, high_availability[0].standby_availability_zone]
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgres]
}

# TLS is required (the server's default, stated here so it cannot drift): garm's URL says
# sslmode=require.
resource "azurerm_postgresql_flexible_server_configuration" "require_tls" {
  count     = local.postgres ? 1 : 0
  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.garm[0].id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_database" "garm" {
  count     = local.postgres ? 1 : 0
  name      = "garm"
  server_id = azurerm_postgresql_flexible_server.garm[0].id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

# The replicas: one container group each, the same image and configuration, private IPs only.
resource "azurerm_container_group" "replica" {
  count               = local.postgres ? var.replica_count : 0
  name                = "${local.group_name}-${count.index}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  os_type             = "Linux"
  sku                 = "Standard"
  restart_policy      = "Always"
  ip_address_type     = "Private"
  subnet_ids          = [azurerm_subnet.containers[0].id]
  tags                = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.garm.id]
  }

  image_registry_credential {
    server                    = azurerm_container_registry.garm.login_server
    user_assigned_identity_id = azurerm_user_assigned_identity.garm.id
  }

  dynamic "diagnostics" {
    for_each = azurerm_log_analytics_workspace.garm
    content {
      log_analytics {
        workspace_id  = diagnostics.value.workspace_id
        workspace_key = diagnostics.value.primary_shared_key
        log_type      = "ContainerInsights"
      }
    }
  }

  # `garm bootstrap` (admin, controller URLs, credentials, repository, pool) runs in the first
  # group only, at each of its starts; it creates what is missing and leaves what exists, so a
  # restart changes nothing. The other groups just start garm: replicas tolerate starting
  # together on one database (migrations take a lock) and serve once bootstrap has set garm up.
  dynamic "init_container" {
    for_each = count.index == 0 ? [1] : []
    content {
      name                         = "bootstrap"
      image                        = local.image
      commands                     = ["garm-entrypoint", "bootstrap"]
      environment_variables        = local.replica_bootstrap_env
      secure_environment_variables = local.replica_bootstrap_secrets

      volume {
        name       = "config-bootstrap"
        mount_path = "/etc/garm/mounted"
        read_only  = true
        secret     = local.replica_config_files
      }
    }
  }

  container {
    name                         = "garm"
    image                        = local.image
    cpu                          = var.garm_cpu
    memory                       = var.garm_memory
    commands                     = ["garm-entrypoint"]
    secure_environment_variables = local.replica_secrets

    ports {
      port     = 9997
      protocol = "TCP"
    }

    readiness_probe {
      http_get {
        path   = "/readyz"
        port   = 9997
        scheme = "http"
      }
      period_seconds    = 10
      failure_threshold = 3
    }

    liveness_probe {
      http_get {
        path   = "/healthz"
        port   = 9997
        scheme = "http"
      }
      initial_delay_seconds = 60
      period_seconds        = 30
      timeout_seconds       = 10
      failure_threshold     = 3
    }

    volume {
      name       = "config-garm"
      mount_path = "/etc/garm/mounted"
      read_only  = true
      secret     = local.replica_config_files
    }
  }

  lifecycle {
    # As in SQLite mode: the GitHub token is an input of the first start only.
    ignore_changes = [init_container[0].secure_environment_variables["GARM_GITHUB_TOKEN"]]
  }

  depends_on = [
    time_sleep.role_propagation,
    azurerm_subnet_nat_gateway_association.containers,
    azurerm_postgresql_flexible_server_configuration.require_tls,
    azurerm_postgresql_flexible_server_database.garm,
  ]
}

# The front: the one public address of the PostgreSQL mode.
resource "azurerm_public_ip" "front" {
  count               = local.postgres ? 1 : 0
  name                = "garm-front-${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  allocation_method   = "Static"
  sku                 = "Standard"
  domain_name_label   = local.dns_name_label
  tags                = var.tags
}

resource "azurerm_application_gateway" "front" {
  count               = local.postgres ? 1 : 0
  name                = "garm-${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  tags                = var.tags

  sku {
    name     = "Standard_v2"
    tier     = "Standard_v2"
    capacity = var.front_capacity
  }

  ssl_policy {
    policy_type = "Predefined"
    policy_name = "AppGwSslPolicy20220101"
  }

  gateway_ip_configuration {
    name      = "gateway"
    subnet_id = azurerm_subnet.gateway[0].id
  }

  frontend_ip_configuration {
    name                 = "public"
    public_ip_address_id = azurerm_public_ip.front[0].id
  }

  frontend_port {
    name = "https"
    port = 443
  }

  ssl_certificate {
    name     = "garm"
    data     = var.tls_certificate_pfx
    password = var.tls_certificate_password
  }

  http_listener {
    name                           = "https"
    frontend_ip_configuration_name = "public"
    frontend_port_name             = "https"
    protocol                       = "Https"
    ssl_certificate_name           = "garm"
  }

  # Every replica; the probe takes one out while its /readyz fails (database unreachable,
  # process gone).
  backend_address_pool {
    name         = "replicas"
    ip_addresses = azurerm_container_group.replica[*].ip_address
  }

  probe {
    name                = "readyz"
    protocol            = "Http"
    host                = "127.0.0.1"
    path                = "/readyz"
    interval            = 10
    timeout             = 5
    unhealthy_threshold = 2

    match {
      status_code = ["200"]
    }
  }

  backend_http_settings {
    name                  = "garm"
    protocol              = "Http"
    port                  = 9997
    cookie_based_affinity = "Disabled"
    request_timeout       = 60
    probe_name            = "readyz"
  }

  # Webhooks, the metadata and callback endpoints the runner VMs call, and the API (garm-cli
  # with the front's URL) all go to any replica.
  request_routing_rule {
    name                       = "garm"
    rule_type                  = "Basic"
    priority                   = 100
    http_listener_name         = "https"
    backend_address_pool_name  = "replicas"
    backend_http_settings_name = "garm"
  }

  lifecycle {
    precondition {
      condition     = var.tls_certificate_pfx != ""
      error_message = "database = \"postgres\" needs tls_certificate_pfx (a PFX for the front's host name, base64)."
    }
  }
}
