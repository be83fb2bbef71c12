# One service account per function, with nothing granted project-wide: each
# gets only its own secrets (secrets.tf) and, for execute, the write-back tables.

resource "google_service_account" "fn" {
  for_each = local.functions

  project      = var.project
  account_id   = "${var.name_prefix}-${each.value.short}"
  display_name = "Looker action hub ${each.key}"
}

# The gateway authenticates to the private services with this identity.
resource "google_service_account" "gateway" {
  project      = var.project
  account_id   = "${var.name_prefix}-gw"
  display_name = "Looker action hub API Gateway"
}

resource "google_cloud_run_v2_service_iam_member" "gateway_invoker" {
  for_each = local.functions

  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.gateway.member
}
