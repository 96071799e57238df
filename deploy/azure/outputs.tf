# What the operator needs after `terraform apply` (docs/deploy-azure.md walks through them).

locals {
  # The SQLite group, or in PostgreSQL mode the first replica group (whose init container sets
  # garm up); exactly one of the two lists is not empty.
  az_group = "--resource-group ${azurerm_resource_group.garm.name} --name ${concat(azurerm_container_group.garm[*].name, azurerm_container_group.replica[*].name)[0]}"
}

output "fqdn" {
  description = "Public name of garm (in PostgreSQL mode, of the Application Gateway in front of the replicas)."
  value       = local.fqdn
}

output "base_url" {
  description = "Base URL of garm's metadata, callback and webhook endpoints."
  value       = local.base_url
}

output "webhook_url" {
  description = "Payload URL of the GitHub webhook (content type application/json, event Workflow jobs)."
  value       = "${local.base_url}/webhooks"
}

output "image" {
  description = "Image reference the container group runs now."
  value       = local.image
}

output "image_repository" {
  description = "Repository to push new garm-azure builds to, each under a new tag."
  value       = local.image_repository
}

output "registry_name" {
  description = "Container registry to push the image to (az acr login --name <this>)."
  value       = azurerm_container_registry.garm.name
}

output "push_commands" {
  description = "Pushes the local garm-azure image under the tag in $TAG: TAG=v2 sh -c \"$(terraform output -raw push_commands)\"; then set image_tag = \"v2\" in terraform.tfvars."
  value       = "test -n \"$${TAG:-}\" || { echo 'set TAG to the new image tag' >&2; exit 1; }; az acr login --name ${azurerm_container_registry.garm.name} && docker tag garm-azure ${local.image_repository}:$TAG && docker push ${local.image_repository}:$TAG"
}

output "exec_command" {
  description = "Opens a shell as user garm in the garm container (garm-cli is there, with the profile local)."
  value       = "az container exec ${local.az_group} --container-name garm --exec-command garm-shell"
}

output "snapshot_exec_command" {
  description = "Opens a shell as user garm in the snapshot container (garm-snapshot --once, --backup <name>)."
  value       = "az container exec ${local.az_group} --container-name snapshot --exec-command garm-shell"
}

output "logs_command" {
  description = "Follows garm's log (this instance of the container only; see log_analytics)."
  value       = "az container logs ${local.az_group} --container-name garm --follow"
}

output "bootstrap_logs_command" {
  description = "Shows what the init container did (created or exists, per object)."
  value       = "az container logs ${local.az_group} --container-name bootstrap"
}

output "snapshot_logs_command" {
  description = "Shows the database snapshots copied to the file share."
  value       = "az container logs ${local.az_group} --container-name snapshot"
}

output "caddy_logs_command" {
  description = "Shows Caddy's certificate and proxy log."
  value       = "az container logs ${local.az_group} --container-name caddy --follow"
}

output "log_analytics_workspace_id" {
  description = "Workspace (customer) ID for az monitor log-analytics query, when log_analytics is on."
  value       = var.log_analytics ? azurerm_log_analytics_workspace.garm[0].workspace_id : null
}

output "identity_client_id" {
  description = "Client ID of the identity the Azure provider uses."
  value       = azurerm_user_assigned_identity.garm.client_id
}

output "identity_principal_id" {
  description = "Principal ID of the identity the Azure provider uses (for further role assignments)."
  value       = azurerm_user_assigned_identity.garm.principal_id
}

output "admin_username" {
  description = "garm's admin user."
  value       = var.admin_username
}

output "admin_password" {
  description = "Initial password of garm's admin user (terraform output -raw admin_password); after a change in garm, garm holds the password."
  value       = random_password.admin_password.result
  sensitive   = true
}

output "webhook_secret" {
  description = "Initial secret of the GitHub webhook; after a rotation (docs/deploy-azure.md) garm and GitHub hold the secret and this output is stale."
  value       = random_password.webhook_secret.result
  sensitive   = true
}

output "front_public_ip" {
  description = "PostgreSQL mode: the Application Gateway's public IP address (point front_hostname's DNS record here)."
  value       = one(azurerm_public_ip.front[*].ip_address)
}

output "postgres_server_name" {
  description = "PostgreSQL mode: the flexible server's name (private access only; its password is in the Terraform state, never in an output)."
  value       = one(azurerm_postgresql_flexible_server.garm[*].name)
}

output "replica_groups" {
  description = "PostgreSQL mode: the replica container groups with their private IP addresses (the gateway's backend pool)."
  value       = { for g in azurerm_container_group.replica : g.name => g.ip_address }
}
