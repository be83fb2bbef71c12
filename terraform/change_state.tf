# The memory of change-only sends ("Send only new or changed rows"): per schedule, a small head object
# (replaced by compare-and-swap on its generation) and the fingerprints of what the last run
# delivered, written once per run. One bucket that every execute instance shares, kept across
# deploys and scale-to-zero.

locals {
  change_only = var.change_only_enabled
  # Bucket names are global: the project id makes this one unique (at most 30 + 1 + 20 + 8 = 59
  # characters of the 63 allowed).
  change_bucket_name = "${var.project}-${var.name_prefix}-changes"

  # The form offers "Send only new or changed rows" only where a memory is configured, and
  # execute uses it: both get the bucket's name; only execute may touch its objects.
  change_env       = local.change_only ? { HUB_CHANGE_BUCKET = google_storage_bucket.change_state[0].name } : {}
  change_functions = ["action_form", "action_execute"]
}

resource "google_storage_bucket" "change_state" {
  count = local.change_only ? 1 : 0

  project                     = var.project
  name                        = local.change_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # A bucket that still holds memories is never deleted by terraform (turning
  # change_only_enabled off fails until it is emptied by hand).
  force_destroy = false

  # Each run writes a new snapshot and replaces the head; a replaced or deleted object stays
  # recoverable for 7 days. No object versioning (every replaced head would be kept forever)
  # and no lifecycle rule: a weekly or monthly schedule's current snapshot must never expire.
  versioning {
    enabled = false
  }
  soft_delete_policy {
    retention_duration_seconds = 604800
  }

  depends_on = [google_project_service.apis]
}

# Exactly what the hub does with the memory: read a head or a part (get), write one (create;
# replacing a head also needs delete), list a schedule's snapshots (list), delete an old one
# (delete). No bucket permissions, no ACLs, no IAM: roles/storage.objectAdmin would hold those.
resource "google_project_iam_custom_role" "change_state" {
  count = local.change_only ? 1 : 0

  project     = var.project
  role_id     = "${replace(var.name_prefix, "-", "_")}_change_state"
  title       = "Looker action hub: the memory of change-only sends"
  description = "Read, write, list and delete the objects of the bucket it is granted on; no bucket settings, no ACLs."
  permissions = [
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
  ]

  depends_on = [google_project_service.apis]
}

# On this bucket only, to execute only.
resource "google_storage_bucket_iam_member" "change_state" {
  count = local.change_only ? 1 : 0

  bucket = google_storage_bucket.change_state[0].name
  role   = google_project_iam_custom_role.change_state[0].name
  member = google_service_account.fn["action_execute"].member

  depends_on = [google_project_service.apis]
}
