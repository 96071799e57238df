# What the operator needs after `terraform apply` (docs/deploy-azure.md walks through them).

output "fqdn" {
  description = "Public name of garm."
  value       = local.fqdn
}

output "base_url" {
  description = "Base URL of garm's metadata, callback and webhook endpoints."
  value       = local.base_url
}

output "webhook_url" {
  description = "Payload URL of the GitHub webhook (content type application/json, event Workflow jobs)."
  value       = "https://${azurerm_container_group.garm.fqdn}/webhooks"
}

output "image" {
  description = "Image reference the container group pulls: push the garm-azure image here."
  value       = local.image
}

output "registry_name" {
  description = "Container registry to push the image to (az acr login --name <this>)."
  value       = azurerm_container_registry.garm.name
}

output "push_commands" {
  description = "Commands that push the locally built garm-azure image."
  value       = "az acr login --name ${azurerm_container_registry.garm.name} && docker tag garm-azure ${local.image} && docker push ${local.image}"
}

output "exec_command" {
  description = "Opens a shell in the garm container (garm-cli is there, with the profile local)."
  value       = "az container exec --resource-group ${azurerm_resource_group.garm.name} --name ${azurerm_container_group.garm.name} --container-name garm --exec-command /bin/bash"
}

output "logs_command" {
  description = "Follows garm's log."
  value       = "az container logs --resource-group ${azurerm_resource_group.garm.name} --name ${azurerm_container_group.garm.name} --container-name garm --follow"
}

output "bootstrap_logs_command" {
  description = "Shows what the init container did (created or exists, per object)."
  value       = "az container logs --resource-group ${azurerm_resource_group.garm.name} --name ${azurerm_container_group.garm.name} --container-name bootstrap"
}

output "snapshot_logs_command" {
  description = "Shows the database snapshots copied to the file share."
  value       = "az container logs --resource-group ${azurerm_resource_group.garm.name} --name ${azurerm_container_group.garm.name} --container-name snapshot"
}

output "caddy_logs_command" {
  description = "Shows Caddy's certificate and proxy log."
  value       = "az container logs --resource-group ${azurerm_resource_group.garm.name} --name ${azurerm_container_group.garm.name} --container-name caddy --follow"
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
  description = "Password of garm's admin user (terraform output -raw admin_password)."
  value       = random_password.admin_password.result
  sensitive   = true
}

output "webhook_secret" {
  description = "Secret of the GitHub webhook (terraform output -raw webhook_secret)."
  value       = random_password.webhook_secret.result
  sensitive   = true
}
