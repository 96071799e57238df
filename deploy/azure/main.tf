# Everything garm needs around its container group: resource group, registry, state storage,
# the identity the Azure provider uses, its roles, and the generated secrets.

data "azurerm_subscription" "current" {}

resource "random_string" "suffix" {
  length  = 6
  upper   = false
  special = false
}

locals {
  suffix         = random_string.suffix.result
  dns_name_label = var.dns_name_label != "" ? var.dns_name_label : "garm-${local.suffix}"
  # Computed here rather than read from the container group, which needs it for Caddy and bootstrap.
  fqdn     = "${local.dns_name_label}.${azurerm_resource_group.garm.location}.azurecontainer.io"
  base_url = "https://${local.fqdn}"
  image    = "${azurerm_container_registry.garm.login_server}/garm-azure:${var.image_tag}"
}

resource "azurerm_resource_group" "garm" {
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

resource "azurerm_container_registry" "garm" {
  name                = "garm${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  sku                 = "Basic"
  admin_enabled       = false
  tags                = var.tags
}

# The file shares hold the database snapshots and Caddy's certificates. SQLite never opens a file
# on them: the live database is on the container group's local disk (see docs/deploy-azure.md).
resource "azurerm_storage_account" "state" {
  name                            = "garm${local.suffix}"
  resource_group_name             = azurerm_resource_group.garm.name
  location                        = azurerm_resource_group.garm.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  account_kind                    = "StorageV2"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  # ACI mounts Azure Files with the account key.
  shared_access_key_enabled = true
  tags                      = var.tags
}

resource "azurerm_storage_share" "state" {
  name               = "garm-state"
  storage_account_id = azurerm_storage_account.state.id
  quota              = 5
  enabled_protocol   = "SMB"
}

resource "azurerm_storage_share" "caddy" {
  name               = "caddy-data"
  storage_account_id = azurerm_storage_account.state.id
  quota              = 1
  enabled_protocol   = "SMB"
}

# Created before the container group, so its roles are in place when garm first calls Azure.
resource "azurerm_user_assigned_identity" "garm" {
  name                = "garm"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  tags                = var.tags
}

# The Azure provider creates one resource group per runner VM, which needs the subscription scope.
resource "azurerm_role_assignment" "runner_vms" {
  scope                = var.runner_role_scope != "" ? var.runner_role_scope : data.azurerm_subscription.current.id
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.garm.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "image_pull" {
  scope                = azurerm_container_registry.garm.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_user_assigned_identity.garm.principal_id
  principal_type       = "ServicePrincipal"
}

# Role assignments take a while to reach every Azure service.
resource "time_sleep" "role_propagation" {
  create_duration = "60s"
  depends_on      = [azurerm_role_assignment.runner_vms, azurerm_role_assignment.image_pull]
}

# Generated secrets: they live in the Terraform state, so keep the state private.
resource "random_password" "jwt_secret" {
  length  = 48
  special = false
}

# garm requires exactly 32 characters.
resource "random_password" "db_passphrase" {
  length  = 32
  special = false
}

resource "random_password" "admin_password" {
  length           = 24
  min_lower        = 2
  min_upper        = 2
  min_numeric      = 2
  min_special      = 2
  override_special = "-_.!"
}

resource "random_password" "webhook_secret" {
  length  = 32
  special = false
}
