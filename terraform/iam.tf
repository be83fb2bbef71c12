# One service account per function, with nothing granted project-wide: each
# gets only its own secrets (secrets.tf) and, for execute, append-only access to
# the write-back tables (bigquery.tf). docs/deployment.md, "IAM: who holds what", lists
# every grant (scripts/deploy_rehearsal.py compares it with the applied state).

resource "google_service_account" "fn" {
  for_each = local.functions

  project      = var.project
  account_id   = "${var.name_prefix}-${each.value.short}"
  display_name = "Looker action hub ${each.key}"

  depends_on = [google_project_service.apis]
}

# The gateway authenticates to the private services with this identity.
resource "google_service_account" "gateway" {
  count = local.gateway_enabled ? 1 : 0

  project      = var.project
  account_id   = "${var.name_prefix}-gw"
  display_name = "Looker action hub API Gateway"

  depends_on = [google_project_service.apis]
}

resource "google_cloud_run_v2_service_iam_member" "gateway_invoker" {
  for_each = local.gateway_enabled ? local.functions : {}

  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.gateway[0].member

  depends_on = [google_project_service.apis]
}

moved {
  from = google_service_account.gateway
  to   = google_service_account.gateway[0]
}
