# Your own write-back actions (docs/actions-file.md): actions_dir is the
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
  # Secret Manager's limit for one secret version, in bytes. length() counts characters, so the
  # bytes are counted from the base64 text: 3 bytes per 4 characters, less its "=" padding.
  actions_max_bytes = 65536
  actions_base64    = base64encode(local.actions_yaml)
  actions_bytes     = length(local.actions_base64) / 4 * 3 - length(regex("=*$", local.actions_base64))
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
  # A changed file is a new version; the replaced one is left ENABLED (removed from the state
  # only): the earlier revisions mount it, so a rollback to one of them still starts. The
  # provider's default, DELETE, destroys it; DISABLE would make it unreadable just the same.
  # scripts/deploy.sh destroys all but the ACTIONS_VERSIONS_KEPT newest (10; at least 5).
  deletion_policy = "ABANDON"

  lifecycle {
    # Create the new version first, so an instance starting meanwhile still finds the version
    # its revision mounts.
    create_before_destroy = true

    precondition {
      condition     = local.actions_bytes <= local.actions_max_bytes
      error_message = "actions_dir/actions.yaml is larger than 64 KiB (65536 bytes, counted in UTF-8), the most one Secret Manager version holds: write icons as short inline SVG or smaller files."
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
