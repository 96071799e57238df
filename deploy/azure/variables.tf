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
