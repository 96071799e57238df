# The container group: `bootstrap` (init container), then `garm`, the `snapshot` sidecar that
# copies the database to the file share, and the `caddy` sidecar that serves HTTPS for the FQDN.
#
# The live SQLite database is on the `data` emptyDir volume (local disk, where SQLite's locking
# works); only whole-file snapshots go to the SMB share, and they are restored from it at start.
#
# Volume names: the azurerm provider turns every container's `volume` blocks into one list of
# group volumes and merges same-named volumes only when they are `empty_dir`. A secret or share
# volume declared in two containers under one name reaches ACI twice and the group is refused
# (`DuplicateVolumes`), so each container names its own (`config-garm`, `state-snapshot`, …);
# only `data`, the emptyDir they share, has one name. `cargo test -p garm-deploy-check` checks
# the group as the provider builds it.

locals {
  group_name    = "garm"
  db_file       = "/var/lib/garm/garm.db"
  snapshot_file = "/mnt/state/garm.db"

  config_files = {
    "config.toml" = base64encode(templatefile("${path.module}/templates/config.toml.tftpl", {
      log_level     = var.log_level
      db_file       = local.db_file
      provider_name = local.provider_name
    }))
    "garm-provider-azure.toml" = base64encode(templatefile("${path.module}/templates/garm-provider-azure.toml.tftpl", {
      location           = azurerm_resource_group.garm.location
      subscription_id    = data.azurerm_subscription.current.subscription_id
      identity_client_id = azurerm_user_assigned_identity.garm.client_id
    }))
  }

  # Caddy's configuration: HTTPS for the FQDN, and only the paths GitHub and the runner VMs use.
  caddy_files = {
    "Caddyfile" = base64encode(templatefile("${path.module}/templates/Caddyfile.tftpl", {
      site_address = local.fqdn
      webhooks     = var.runner_mode == "pool"
    }))
  }

  # Secrets the entry point writes into the rendered configuration.
  config_secrets = {
    GARM_JWT_SECRET    = random_password.jwt_secret.result
    GARM_DB_PASSPHRASE = random_password.db_passphrase.result
  }

  # `garm bootstrap` input (see docs/deploy-azure.md); without a repository, only the admin,
  # the controller URLs and the credentials are created.
  bootstrap_env = merge(
    {
      GARM_RESTORE_FROM     = local.snapshot_file
      GARM_ADMIN_USERNAME   = var.admin_username
      GARM_ADMIN_EMAIL      = var.admin_email
      GARM_BASE_URL         = local.base_url
      GARM_CREDENTIALS_NAME = var.credentials_name
    },
    { for name, value in {
      GARM_REPO_OWNER            = var.repo_owner
      GARM_REPO_NAME             = var.repo_name
      GARM_POOL_PROVIDER         = local.provider_name
      GARM_POOL_IMAGE            = var.pool_image
      GARM_POOL_FLAVOR           = var.pool_flavor
      GARM_POOL_TAGS             = join(",", var.pool_tags)
      GARM_POOL_MIN_IDLE_RUNNERS = tostring(var.pool_min_idle_runners)
      GARM_POOL_MAX_RUNNERS      = tostring(var.pool_max_runners)
      GARM_POOL_EXTRA_SPECS      = jsonencode(var.pool_extra_specs)
      GARM_POOL_ENABLED          = tostring(var.pool_enabled)
      GARM_POOL_KIND             = var.runner_mode
      GARM_SCALESET_NAME         = var.runner_mode == "scaleset" ? var.scale_set_name : ""
    } : name => value if var.repo_owner != "" },
  )
  bootstrap_secrets = merge(
    local.config_secrets,
    {
      GARM_ADMIN_PASSWORD = random_password.admin_password.result
      GARM_GITHUB_TOKEN   = var.github_token
    },
    { for name, value in { GARM_WEBHOOK_SECRET = random_password.webhook_secret.result } : name => value if var.repo_owner != "" },
  )
}

resource "azurerm_container_group" "garm" {
  # SQLite mode only; PostgreSQL mode runs the replica groups of replicas.tf instead.
  count               = local.postgres ? 0 : 1
  name                = local.group_name
  resource_group_name = azurerm_resource_group.garm.name
  location            = azurerm_resource_group.garm.location
  os_type             = "Linux"
  sku                 = "Standard"
  restart_policy      = "Always"
  # Managed identity is not available to container groups in a virtual network: keep a public IP.
  ip_address_type = "Public"
  dns_name_label  = local.dns_name_label
  # The other policies add a hash to the name that is known only after the group exists, but
  # Caddy's certificate and bootstrap's URLs need the FQDN before. With `Unsecure`, the label
  # is free for anyone once the group is deleted: remove the GitHub webhook before destroying.
  dns_name_label_reuse_policy = "Unsecure"
  tags                        = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.garm.id]
  }

  image_registry_credential {
    server                    = azurerm_container_registry.garm.login_server
    user_assigned_identity_id = azurerm_user_assigned_identity.garm.id
  }

  # Container logs kept across restarts and re-creations, when enabled (var.log_analytics).
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

  # Runs to completion before the other containers start, at every start of the group:
  # restores the database from the share if the local copy is missing, then `garm bootstrap`.
  init_container {
    name                         = "bootstrap"
    image                        = local.image
    commands                     = ["garm-entrypoint", "bootstrap"]
    environment_variables        = local.bootstrap_env
    secure_environment_variables = local.bootstrap_secrets

    volume {
      name       = "config-bootstrap"
      mount_path = "/etc/garm/mounted"
      read_only  = true
      secret     = local.config_files
    }

    volume {
      name       = "data"
      mount_path = "/var/lib/garm"
      empty_dir  = true
    }

    volume {
      name                 = "state-bootstrap"
      mount_path           = "/mnt/state"
      share_name           = azurerm_storage_share.state.name
      storage_account_name = azurerm_storage_account.state.name
      storage_account_key  = azurerm_storage_account.state.primary_access_key
    }
  }

  # garm listens on 127.0.0.1:9997 only; Caddy is its one way in from outside.
  container {
    name     = "garm"
    image    = local.image
    cpu      = var.garm_cpu
    memory   = var.garm_memory
    commands = ["garm-entrypoint"]
    environment_variables = {
      # If a container restart lost the local database, take the last snapshot again.
      GARM_RESTORE_FROM = local.snapshot_file
    }
    secure_environment_variables = local.config_secrets

    liveness_probe {
      exec                  = ["garm-healthcheck"]
      initial_delay_seconds = 60
      period_seconds        = 30
      timeout_seconds       = 10
      failure_threshold     = 3
    }

    volume {
      name       = "config-garm"
      mount_path = "/etc/garm/mounted"
      read_only  = true
      secret     = local.config_files
    }

    volume {
      name       = "data"
      mount_path = "/var/lib/garm"
      empty_dir  = true
    }

    volume {
      name                 = "state-garm"
      mount_path           = "/mnt/state"
      share_name           = azurerm_storage_share.state.name
      storage_account_name = azurerm_storage_account.state.name
      storage_account_key  = azurerm_storage_account.state.primary_access_key
    }
  }

  container {
    name     = "snapshot"
    image    = local.image
    cpu      = var.sidecar_cpu
    memory   = var.sidecar_memory
    commands = ["garm-entrypoint", "--exec", "garm-snapshot"]
    environment_variables = {
      GARM_DB_FILE           = local.db_file
      GARM_SNAPSHOT          = local.snapshot_file
      GARM_SNAPSHOT_INTERVAL = tostring(var.snapshot_interval_seconds)
    }

    volume {
      name       = "data"
      mount_path = "/var/lib/garm"
      empty_dir  = true
    }

    volume {
      name                 = "state-snapshot"
      mount_path           = "/mnt/state"
      share_name           = azurerm_storage_share.state.name
      storage_account_name = azurerm_storage_account.state.name
      storage_account_key  = azurerm_storage_account.state.primary_access_key
    }
  }

  # TLS: Caddy gets a certificate for the FQDN from Let's Encrypt (HTTP-01 on port 80), keeps it
  # on the `caddy-data` share, and forwards the webhook, metadata and callback paths to garm;
  # every other path (login, first-run, the admin API) answers 404 (templates/Caddyfile.tftpl).
  container {
    name     = "caddy"
    image    = var.caddy_image
    cpu      = var.sidecar_cpu
    memory   = var.sidecar_memory
    commands = ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]

    ports {
      port     = 443
      protocol = "TCP"
    }

    ports {
      port     = 80
      protocol = "TCP"
    }

    volume {
      name       = "caddy-config"
      mount_path = "/etc/caddy"
      read_only  = true
      secret     = local.caddy_files
    }

    volume {
      name                 = "caddy-data"
      mount_path           = "/data"
      share_name           = azurerm_storage_share.caddy.name
      storage_account_name = azurerm_storage_account.state.name
      storage_account_key  = azurerm_storage_account.state.primary_access_key
    }
  }

  lifecycle {
    # The GitHub token is an input of the first start only: bootstrap never changes credentials
    # that exist. A new TF_VAR_github_token must not re-create the group for nothing; rotate the
    # token in garm (docs/deploy-azure.md, "Rotating secrets"). Only this key is ignored: the
    # other secure variables still follow the configuration (a repository added later brings its
    # webhook secret).
    ignore_changes = [init_container[0].secure_environment_variables["GARM_GITHUB_TOKEN"]]
  }

  depends_on = [time_sleep.role_propagation]
}
