output "looker_action_hub_url" {
  description = "Paste this into Looker: Admin → Actions → Add Action Hub (with the token stored in the looker-token secret)."
  value       = var.public_base_url != "" ? var.public_base_url : local.gateway_url
}

output "oauth_redirect_uri" {
  description = "User identity mode: the one redirect URI to register with the OAuth client (every action's login comes back through it)."
  value       = local.user_identity ? "${var.public_base_url != "" ? var.public_base_url : local.gateway_url}/oauth_redirect" : ""
}

output "gateway_url" {
  description = "The API Gateway's own URL (empty without the gateway)."
  value       = local.gateway_url
}

output "service_urls" {
  description = "Cloud Run URL of each function (private: only the gateway and Apigee may invoke them)."
  value       = { for f, s in google_cloud_run_v2_service.fn : f => s.uri }
}

output "secrets_to_fill" {
  description = "Secret Manager secrets created empty; add their values with `gcloud secrets versions add NAME --data-file=-`."
  value       = { for k, s in google_secret_manager_secret.hub : k => s.secret_id }
}

output "public_base_url_pending" {
  description = "True while the services still carry a placeholder public URL: apply again with public_base_url set to looker_action_hub_url (scripts/deploy.sh does it)."
  value       = var.public_base_url == "" && local.gateway_enabled
}

output "routes" {
  description = "Every path the gateway serves and the function behind it."
  value       = [for r in local.served_routes : "${r.method} ${r.path} -> ${local.service_names[r.function]}"]
}

output "bigquery_tables" {
  description = "The write-back tables."
  value       = { for t, tbl in google_bigquery_table.writeback : t => "${var.project}.${tbl.dataset_id}.${tbl.table_id}" }
}

output "project" {
  description = "The project everything was created in."
  value       = var.project
}

output "image_repository" {
  description = "Where scripts/deploy.sh pushes the images (one per function, named after the binary)."
  value       = local.image_repository
}

# What scripts/deploy.sh reads after its bootstrap apply, which targets only the APIs,
# the image repository and the secrets: a targeted apply writes only the outputs
# that depend on targeted resources, so every value here hangs on one of them
# (the project and repository from the repository, the secrets from the secrets).
output "bootstrap" {
  description = "Read by scripts/deploy.sh after its bootstrap apply: project, image repository, secrets to fill."
  value = {
    project          = google_artifact_registry_repository.images.project
    image_repository = local.image_repository
    secrets          = { for k, s in google_secret_manager_secret.hub : k => s.secret_id }
  }
}

output "apigee_service_account" {
  description = "Deploy the Apigee proxy revision with this service account (empty without Apigee)."
  value       = local.apigee_enabled ? google_service_account.apigee[0].email : ""
}

output "actions_secret" {
  description = "Secret holding the actions file (empty without actions_dir): scripts/deploy.sh keeps its ACTIONS_VERSIONS_KEPT newest versions readable for rollbacks."
  value       = local.actions_file ? google_secret_manager_secret.actions[0].secret_id : ""
}

output "services" {
  description = "Where the Cloud Run services run and their names by function: what scripts/deploy.sh --rollback moves back."
  value = {
    project = var.project
    region  = var.region
    names   = { for f, s in google_cloud_run_v2_service.fn : f => s.name }
  }
}
