# Optional: resources for organisations that front the hub with Apigee instead of
# (or beside) API Gateway. The proxy bundle is in apigee/apiproxy; its target
# endpoints use the target servers created here and the services' custom audiences.

locals {
  apigee_enabled = var.apigee_organization != ""
}

# Identity of the deployed proxy (deploy the revision with this service account);
# Apigee mints the Google ID tokens for the Cloud Run services with it.
resource "google_service_account" "apigee" {
  count = local.apigee_enabled ? 1 : 0

  project      = var.project
  account_id   = "${var.name_prefix}-apigee"
  display_name = "Looker action hub Apigee proxy"

  depends_on = [google_project_service.apis]
}

resource "google_cloud_run_v2_service_iam_member" "apigee_invoker" {
  for_each = local.apigee_enabled ? local.functions : {}

  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.apigee[0].member

  depends_on = [google_project_service.apis]
}

resource "google_apigee_target_server" "fn" {
  for_each = local.apigee_enabled ? local.functions : {}

  # Prefixed like every other name, so two deployments can share an Apigee environment; the
  # bundle's <Server name> must match (docs/deployment.md, "Apigee instead of API Gateway").
  name        = local.service_names[each.key]
  description = "Cloud Run service ${local.service_names[each.key]}"
  env_id      = "organizations/${var.apigee_organization}/environments/${var.apigee_environment}"
  host        = trimprefix(google_cloud_run_v2_service.fn[each.key].uri, "https://")
  port        = 443
  protocol    = "HTTP"

  s_sl_info {
    enabled = true
  }

  lifecycle {
    precondition {
      condition     = var.apigee_environment != ""
      error_message = "apigee_environment is required when apigee_organization is set."
    }
  }

  depends_on = [google_project_service.apis]
}
