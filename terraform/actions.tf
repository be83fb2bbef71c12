# Your own write-back actions (README.md, "Your own actions"): actions_dir is the
# folder `hub generate-actions FILE DIR` wrote. Its terraform/ holds the tables
# (terraform/bigquery.tf creates them), its actions.yaml the file every function
# serves (icon files inlined). That file is configuration, not a secret: it goes
# through terraform into a Secret Manager secret only because Cloud Run mounts
# files from there; each function reads it as HUB_ACTIONS_FILE. A new version of
# the file is a new secret version and so a new revision of every service.
# Without actions_dir the hub serves its built-in actions and none of this exists.
locals {
  actions_file  = var.actions_dir != ""
  actions_yaml  = local.actions_file ? file("${var.actions_dir}/actions.yaml") : ""
  actions_mount = "/etc/looker-action-hub"
  # Secret Manager's limit for one secret version.
  actions_max_bytes = 65536
}

resource "google_secret_manager_secret" "actions" {
  count = local.actions_file ? 1 : 0

  project   = var.project
  secret_id = "${var.name_prefix}-actions-file"
  labels    = { app = "looker-action-hub" }

  annotations = {
    purpose = "The write-back actions file the hub serves (HUB_ACTIONS_FILE), from actions_dir; configuration, not a secret."
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "actions" {
  count = local.actions_file ? 1 : 0

  secret      = google_secret_manager_secret.actions[0].id
  secret_data = local.actions_yaml

  lifecycle {
    # A changed file is a new version (the old one goes): create the new one first, so an
    # instance starting meanwhile still finds the version its revision mounts.
    create_before_destroy = true

    precondition {
      # length() counts characters: the file is ASCII but for free text, whose UTF-8 bytes
      # scripts/deploy.sh checks before terraform runs.
      condition     = length(local.actions_yaml) <= local.actions_max_bytes
      error_message = "actions_dir/actions.yaml is larger than 64 KiB, the most one Secret Manager version holds: write icons as short inline SVG or smaller files."
    }
  }

  depends_on = [google_project_service.apis]
}

# Every function reads the file.
resource "google_secret_manager_secret_iam_member" "actions" {
  for_each = local.actions_file ? local.functions : {}

  project   = var.project
  secret_id = google_secret_manager_secret.actions[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.fn[each.key].member

  depends_on = [google_project_service.apis]
}
