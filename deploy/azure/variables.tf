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
  description = "Tag of the garm-azure image pushed to the registry this configuration creates."
  type        = string
  default     = "latest"
}

variable "caddy_image" {
  description = "Image of the Caddy sidecar that terminates TLS (mirror it into the registry to avoid Docker Hub limits)."
  type        = string
  default     = "docker.io/library/caddy:2"
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

variable "runner_role_scope" {
  description = "Scope of the Contributor role for the runner VMs. Empty: the subscription (each VM gets its own resource group)."
  type        = string
  default     = ""
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
