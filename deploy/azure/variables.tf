# Inputs of the garm-rs deployment. Only `subscription_id` and `github_token` have no default.

variable "subscription_id" {
  description = "Azure subscription that holds garm and the runner VMs it creates."
  type        = string
}

variable "location" {
  description = "Azure region (short name, e.g. westeurope) of garm and of the runner VMs."
  type        = string
  default     = "westeurope"

  validation {
    condition     = can(regex("^[a-z0-9]+$", var.location))
    error_message = "Use the region's short name, such as westeurope."
  }
}

variable "resource_group_name" {
  description = "Resource group for garm itself (the runner VMs get one resource group each)."
  type        = string
  default     = "garm"
}

variable "dns_name_label" {
  description = "DNS label of the container group: <label>.<location>.azurecontainer.io. Empty picks garm-<random>."
  type        = string
  default     = ""

  validation {
    condition     = var.dns_name_label == "" || can(regex("^[a-z][a-z0-9-]{1,61}[a-z0-9]$", var.dns_name_label))
    error_message = "A DNS label is 3 to 63 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "image_tag" {
  description = "Tag of the garm-azure image in the registry this configuration creates. Keep it in terraform.tfvars: a tag given only with -var lasts one apply, and the next plain apply rolls back."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "Use a tag that names one build (v3, 2025-06-01.1, a commit): never latest, whose meaning changes under a running group."
  }
}

variable "caddy_image" {
  description = "Image of the Caddy sidecar, which gets the group's managed identity like every container: pin a version (or @sha256 digest), ideally mirrored into the registry (az acr import)."
  type        = string
  default     = "docker.io/library/caddy:2.8.4"

  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.caddy_image)) || can(regex(":[0-9]+\\.[0-9]+\\.[0-9]+(-[a-z0-9]+)?$", var.caddy_image))
    error_message = "Pin caddy_image to a full version (caddy:2.8.4) or a digest (caddy@sha256:…)."
  }
}

variable "github_token" {
  description = "GitHub personal access token garm uses for the repository (runner registration, webhook management)."
  type        = string
  sensitive   = true
}

variable "credentials_name" {
  description = "Name of the GitHub credentials in garm."
  type        = string
  default     = "garm"
}

variable "admin_username" {
  description = "garm's admin user (its password is generated; see the admin_password output)."
  type        = string
  default     = "admin"
}

variable "admin_email" {
  description = "E-mail address of garm's admin user."
  type        = string
  default     = "admin@example.com"
}

variable "repo_owner" {
  description = "Owner of the repository garm serves. Empty: no repository or pool is created (add them with garm-cli)."
  type        = string
  default     = ""
}

variable "repo_name" {
  description = "Name of the repository garm serves."
  type        = string
  default     = ""
}

variable "pool_image" {
  description = "Runner VM image: Publisher:Offer:Sku:Version, a community gallery image or an image ID."
  type        = string
  default     = "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest"
}

variable "pool_flavor" {
  description = "Runner VM size (a confidential size such as Standard_DC2as_v5 for confidential VMs)."
  type        = string
  default     = "Standard_DC2as_v5"
}

variable "runner_mode" {
  description = "\"pool\": a webhook pool (GitHub must reach garm's /webhooks). \"scaleset\": a runner scale set, whose jobs garm takes from GitHub's Actions service by long poll, so no webhook reaches garm at all (docs/scalesets.md)."
  type        = string
  default     = "pool"

  validation {
    condition     = contains(["pool", "scaleset"], var.runner_mode)
    error_message = "runner_mode is \"pool\" or \"scaleset\"."
  }
}

variable "scale_set_name" {
  description = "The scale set's name when runner_mode is \"scaleset\": workflows use it in runs-on (pool_tags become its extra labels)."
  type        = string
  default     = "azure-cvm"

  validation {
    condition     = length(trimspace(var.scale_set_name)) > 0 && !strcontains(var.scale_set_name, ",")
    error_message = "scale_set_name is not empty and contains no comma."
  }
}

variable "pool_tags" {
  description = "Labels of the pool; a job runs on it when all its runs-on labels are among them."
  type        = list(string)
  default     = ["self-hosted", "azure-cvm", "ubuntu-2204"]

  validation {
    condition     = length(var.pool_tags) > 0 && alltrue([for t in var.pool_tags : trimspace(t) != "" && !strcontains(t, ",")])
    error_message = "A pool needs at least one tag; tags are not empty and contain no comma."
  }
}

variable "pool_min_idle_runners" {
  description = "Runners kept idle and waiting (each one is a running VM)."
  type        = number
  default     = 0

  validation {
    condition     = var.pool_min_idle_runners >= 0 && var.pool_min_idle_runners <= var.pool_max_runners
    error_message = "pool_min_idle_runners must be between 0 and pool_max_runners."
  }
}

variable "pool_max_runners" {
  description = "Most runners of the pool at once."
  type        = number
  default     = 4

  validation {
    condition     = var.pool_max_runners >= 1
    error_message = "pool_max_runners must be at least 1."
  }
}

variable "pool_extra_specs" {
  description = "Extra specs for the Azure provider, as an object (confidential, disk, network settings)."
  type        = any
  default     = { confidential = true }
}

variable "pool_enabled" {
  description = "Whether the pool creates runners."
  type        = bool
  default     = true
}

variable "snapshot_interval_seconds" {
  description = "Seconds between database snapshots to the file share; changes of the last interval can be lost in a crash."
  type        = number
  default     = 300

  validation {
    condition     = var.snapshot_interval_seconds >= 30
    error_message = "Snapshot at most every 30 seconds."
  }
}

variable "log_level" {
  description = "garm's log level: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level is one of debug, info, warn, error."
  }
}

variable "garm_cpu" {
  description = "CPU cores of the garm container."
  type        = number
  default     = 1
}

variable "garm_memory" {
  description = "Memory (GB) of the garm container."
  type        = number
  default     = 1.5
}

variable "sidecar_cpu" {
  description = "CPU cores of each sidecar (Caddy, snapshots)."
  type        = number
  default     = 0.5
}

variable "sidecar_memory" {
  description = "Memory (GB) of each sidecar (Caddy, snapshots)."
  type        = number
  default     = 0.5
}

variable "tags" {
  description = "Azure tags for every resource this configuration creates."
  type        = map(string)
  default     = {}
}

variable "backup_enabled" {
  description = "Daily Azure Backup snapshots of the garm-state share in a Recovery Services vault (about 5 USD a month plus snapshot storage)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days Azure Backup keeps each daily snapshot of the garm-state share."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 200
    error_message = "backup_retention_days is between 1 and 200."
  }
}

variable "share_soft_delete_days" {
  description = "Days a deleted file share (with its snapshots) can be undeleted."
  type        = number
  default     = 14

  validation {
    condition     = var.share_soft_delete_days >= 1 && var.share_soft_delete_days <= 365
    error_message = "share_soft_delete_days is between 1 and 365."
  }
}

variable "log_analytics" {
  description = "Send the containers' logs to a Log Analytics workspace, where they outlive restarts (pay per GB ingested)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days the Log Analytics workspace keeps logs (30 to 730)."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days is between 30 and 730."
  }
}

# PostgreSQL mode and replicas (replicas.tf; docs/high-availability.md, "Deploying replicas on Azure").

variable "database" {
  description = "\"sqlite\": one container group, SQLite on local disk with snapshots to the file share (the default). \"postgres\": Azure Database for PostgreSQL flexible server with private access, replica_count container groups in a virtual network behind an Application Gateway."
  type        = string
  default     = "sqlite"

  validation {
    condition     = contains(["sqlite", "postgres"], var.database)
    error_message = "database is \"sqlite\" or \"postgres\"."
  }
}

variable "replica_count" {
  description = "Container groups running garm on the one PostgreSQL database. More than 1 needs database = \"postgres\" (a SQLite file belongs to one process)."
  type        = number
  default     = 1

  validation {
    condition     = var.replica_count >= 1 && var.replica_count <= 10 && floor(var.replica_count) == var.replica_count
    error_message = "replica_count is a whole number from 1 to 10."
  }

  validation {
    condition     = var.replica_count == 1 || var.database == "postgres"
    error_message = "replica_count above 1 needs database = \"postgres\": a SQLite file belongs to one process."
  }
}

variable "postgres_sku" {
  description = "SKU of the flexible server: B_Standard_B1ms (burstable, 1 vCore, 2 GiB) by default; a General Purpose SKU (GP_Standard_D2ds_v5) for zone-redundant high availability."
  type        = string
  default     = "B_Standard_B1ms"

  validation {
    condition     = can(regex("^(B|GP|MO)_Standard_", var.postgres_sku))
    error_message = "postgres_sku is a flexible server SKU such as B_Standard_B1ms or GP_Standard_D2ds_v5."
  }
}

variable "postgres_storage_mb" {
  description = "Storage of the flexible server in MB (32768 is the smallest)."
  type        = number
  default     = 32768
}

variable "postgres_version" {
  description = "PostgreSQL major version of the flexible server."
  type        = string
  default     = "16"
}

variable "postgres_high_availability" {
  description = "Zone-redundant high availability: a standby server in another zone that takes over when the primary's zone fails. Doubles the server's compute and storage cost; not available on burstable (B_) SKUs."
  type        = bool
  default     = false

  validation {
    condition     = !var.postgres_high_availability || !startswith(var.postgres_sku, "B_")
    error_message = "Zone-redundant high availability needs a General Purpose or Memory Optimized postgres_sku, not a burstable one."
  }
}

variable "postgres_backup_retention_days" {
  description = "Days of point-in-time restore the flexible server keeps (7 to 35)."
  type        = number
  default     = 7

  validation {
    condition     = var.postgres_backup_retention_days >= 7 && var.postgres_backup_retention_days <= 35
    error_message = "postgres_backup_retention_days is between 7 and 35."
  }
}

variable "vnet_address_space" {
  description = "Address space of the virtual network of the PostgreSQL mode; a /16 split into /24 subnets (container groups, PostgreSQL, Application Gateway)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "front_hostname" {
  description = "Host name of garm behind the Application Gateway (PostgreSQL mode), which the TLS certificate must name. Empty: <dns label>.<location>.cloudapp.azure.com, the gateway's public IP's DNS name."
  type        = string
  default     = ""
}

variable "tls_certificate_pfx" {
  description = "PostgreSQL mode: the front's TLS certificate and key as a base64-encoded PKCS#12 (PFX) file for front_hostname, e.g. filebase64(\"garm.pfx\")."
  type        = string
  default     = ""
  sensitive   = true
}

variable "tls_certificate_password" {
  description = "PostgreSQL mode: the password of tls_certificate_pfx."
  type        = string
  default     = ""
  sensitive   = true
}

variable "front_capacity" {
  description = "Application Gateway (Standard_v2) instances; 2 or more spreads the front over availability zones' failures."
  type        = number
  default     = 2

  validation {
    condition     = var.front_capacity >= 1 && var.front_capacity <= 10
    error_message = "front_capacity is between 1 and 10."
  }
}

variable "postgres_admin_login" {
  description = "Administrator login of the flexible server, which garm connects as (its password is generated)."
  type        = string
  default     = "garmadmin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.postgres_admin_login)) && !contains(["admin", "administrator", "root", "azure_superuser", "postgres"], var.postgres_admin_login)
    error_message = "postgres_admin_login is lowercase letters, digits and underscores, and not a reserved name (admin, root, postgres, …)."
  }
}
