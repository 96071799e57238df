# Everything garm needs around its container group: resource group, registry, state storage and
# its backups, the identity the Azure provider uses and its role, optional log retention, and
# the generated secrets.

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
  # In PostgreSQL mode, the Application Gateway's name instead (replicas.tf).
  fqdn             = local.postgres ? local.front_fqdn : "${local.dns_name_label}.${azurerm_resource_group.garm.location}.azurecontainer.io"
  base_url         = "https://${local.fqdn}"
  image_repository = "${azurerm_container_registry.garm.login_server}/garm-azure"
  image            = "${local.image_repository}:${var.image_tag}"
  # The pools' `--provider-name`; the name the first deployment's commands use.
  provider_name = "azure_external"
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

  # A deleted share (and its snapshots) can be undeleted for this many days.
  share_properties {
    retention_policy {
      days = var.share_soft_delete_days
    }
  }

  # The snapshots and backups of garm's database live here: `terraform destroy` must not take
  # them. docs/deploy-azure.md ("Tearing down") says how to remove them on purpose.
  lifecycle {
    prevent_destroy = true
  }
}

resource "azurerm_storage_share" "state" {
  name               = "garm-state"
  storage_account_id = azurerm_storage_account.state.id
  quota              = 5
  enabled_protocol   = "SMB"

  lifecycle {
    prevent_destroy = true
  }
}

resource "azurerm_storage_share" "caddy" {
  name               = "caddy-data"
  storage_account_id = azurerm_storage_account.state.id
  quota              = 1
  enabled_protocol   = "SMB"
}

# Daily share snapshots of `garm-state` kept by Azure Backup, outside what garm-snapshot rotates.
resource "azurerm_recovery_services_vault" "garm" {
  count               = var.backup_enabled ? 1 : 0
  name                = "garm-${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  sku                 = "Standard"
  soft_delete_enabled = true
  tags                = var.tags
}

resource "azurerm_backup_policy_file_share" "daily" {
  count               = var.backup_enabled ? 1 : 0
  name                = "garm-state-daily"
  resource_group_name = azurerm_resource_group.garm.name
  recovery_vault_name = azurerm_recovery_services_vault.garm[0].name

  backup {
    frequency = "Daily"
    time      = "03:00"
  }

  retention_daily {
    count = var.backup_retention_days
  }
}

resource "azurerm_backup_container_storage_account" "state" {
  count               = var.backup_enabled ? 1 : 0
  resource_group_name = azurerm_resource_group.garm.name
  recovery_vault_name = azurerm_recovery_services_vault.garm[0].name
  storage_account_id  = azurerm_storage_account.state.id
}

resource "azurerm_backup_protected_file_share" "state" {
  count                     = var.backup_enabled ? 1 : 0
  resource_group_name       = azurerm_resource_group.garm.name
  recovery_vault_name       = azurerm_recovery_services_vault.garm[0].name
  source_storage_account_id = azurerm_backup_container_storage_account.state[0].storage_account_id
  source_file_share_name    = azurerm_storage_share.state.name
  backup_policy_id          = azurerm_backup_policy_file_share.daily[0].id
}

# Container logs that survive restarts and re-creations of the group (`az container logs` keeps
# only the current instance's).
resource "azurerm_log_analytics_workspace" "garm" {
  count               = var.log_analytics ? 1 : 0
  name                = "garm-${local.suffix}"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

# Created before the container group, so its role is in place when garm first calls Azure.
# ACI gives a group's identity to every container in it (Caddy included): hence the narrow role
# below and the pinned images.
resource "azurerm_user_assigned_identity" "garm" {
  name                = "garm"
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  tags                = var.tags
}

# What garm-provider-azure calls, and nothing else. It creates one resource group per runner VM
# (named after the instance) and deletes it with everything in it, so the role is assigned at the
# subscription: use a subscription dedicated to runners (docs/deploy-azure.md, "What the
# provider's role permits").
resource "azurerm_role_definition" "runner_vms" {
  name        = "garm-runner-vms-${local.suffix}"
  scope       = data.azurerm_subscription.current.id
  description = "garm-provider-azure: runner VMs, each in its own resource group."

  permissions {
    actions = [
      # The per-runner resource groups: create, read, list by tag, delete.
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Resources/subscriptions/resourceGroups/write",
      "Microsoft.Resources/subscriptions/resourceGroups/delete",
      # The VM, its OS disk, and the Windows CustomScriptExtension.
      "Microsoft.Compute/virtualMachines/read",
      "Microsoft.Compute/virtualMachines/write",
      "Microsoft.Compute/virtualMachines/delete",
      "Microsoft.Compute/virtualMachines/start/action",
      "Microsoft.Compute/virtualMachines/deallocate/action",
      "Microsoft.Compute/virtualMachines/extensions/read",
      "Microsoft.Compute/virtualMachines/extensions/write",
      "Microsoft.Compute/disks/read",
      "Microsoft.Compute/disks/write",
      "Microsoft.Compute/disks/delete",
      # Ephemeral OS disk sizing, custom and gallery images, disk encryption sets.
      "Microsoft.Compute/skus/read",
      "Microsoft.Compute/images/read",
      "Microsoft.Compute/galleries/images/versions/read",
      "Microsoft.Compute/diskEncryptionSets/read",
      # The runner's network: public IP, NSG, VNet and subnet (or a configured subnet), NIC.
      "Microsoft.Network/publicIPAddresses/read",
      "Microsoft.Network/publicIPAddresses/write",
      "Microsoft.Network/publicIPAddresses/delete",
      "Microsoft.Network/publicIPAddresses/join/action",
      "Microsoft.Network/networkSecurityGroups/read",
      "Microsoft.Network/networkSecurityGroups/write",
      "Microsoft.Network/networkSecurityGroups/delete",
      "Microsoft.Network/networkSecurityGroups/join/action",
      "Microsoft.Network/virtualNetworks/read",
      "Microsoft.Network/virtualNetworks/write",
      "Microsoft.Network/virtualNetworks/delete",
      "Microsoft.Network/virtualNetworks/subnets/read",
      "Microsoft.Network/virtualNetworks/subnets/write",
      "Microsoft.Network/virtualNetworks/subnets/delete",
      "Microsoft.Network/virtualNetworks/subnets/join/action",
      "Microsoft.Network/networkInterfaces/read",
      "Microsoft.Network/networkInterfaces/write",
      "Microsoft.Network/networkInterfaces/delete",
      "Microsoft.Network/networkInterfaces/join/action",
    ]
    not_actions = []
  }

  assignable_scopes = [data.azurerm_subscription.current.id]
}

resource "azurerm_role_assignment" "runner_vms" {
  scope              = data.azurerm_subscription.current.id
  role_definition_id = azurerm_role_definition.runner_vms.role_definition_resource_id
  principal_id       = azurerm_user_assigned_identity.garm.principal_id
  principal_type     = "ServicePrincipal"
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

# Generated secrets: they live in the Terraform state, so keep the state private (backend.tf.example).
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
