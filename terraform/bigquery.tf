# The insert-only write-back tables: those of the actions the hub serves, as
# `hub generate-actions` writes them (docs/actions-file.md): tables.json
# (description, partitioning, clustering, schema file of each table) and one
# BigQuery JSON schema per table, the same columns as the hub's own tables.
# Without actions_dir: the built-in actions' tables, generated into schemas/
# (`hub generate-actions --builtin --terraform terraform/schemas`; a test fails
# when that copy is stale).

locals {
  # The dataset sits with the services unless bigquery_location says otherwise (US, EU, a region).
  bigquery_location = var.bigquery_location != "" ? var.bigquery_location : var.region

  tables_dir = var.actions_dir != "" ? "${var.actions_dir}/terraform" : "${path.module}/schemas"
  writeback_tables = {
    for t, v in jsondecode(file("${local.tables_dir}/tables.json")) : t => {
      description = v.description
      schema      = "${local.tables_dir}/${v.schema}"
      partition   = v.partition
      clustering  = v.clustering
    }
  }

  # Who appends rows: the execute service account, plus the analysts themselves
  # when they write with their own identity.
  table_writers = concat(
    [google_service_account.fn["action_execute"].member],
    local.user_identity ? var.bigquery_writers : [],
  )

  # The run ledger's tables (tables.json names "(run ledger)" as their writer) are appended with
  # the hub's own identity only, also for executes that wrote as the user (docs/run-ledger.md):
  # the analysts get no grant on them.
  ledger_tables = [
    for t, v in jsondecode(file("${local.tables_dir}/tables.json")) : t if v.action == "(run ledger)"
  ]

  table_grants = merge([
    for t, _ in local.writeback_tables : {
      for i, m in(contains(local.ledger_tables, t) ? [local.table_writers[0]] : local.table_writers) :
      "${t}/${i}" => { table = t, member = m }
    }
  ]...)
}

resource "google_bigquery_dataset" "writeback" {
  project       = var.project
  dataset_id    = var.bigquery_dataset
  location      = local.bigquery_location
  friendly_name = "Looker write-back"
  description   = "Decisions taken by business users in Looker, appended by the action hub."
  labels        = { app = "looker-action-hub" }

  lifecycle {
    # A changed location (or id) would replace the dataset: every table and row in it. No plan
    # may; scripts/plan_guard.py refuses it too. To delete the dataset on purpose, remove this.
    prevent_destroy = true
  }

  depends_on = [google_project_service.apis]
}

# Looker's BigQuery connection reads the tables for the generated LookML: read access to this
# dataset only. It also needs roles/bigquery.jobUser in the project its queries run in (the
# connection's billing project), which is the connection's own setting, not granted here.
resource "google_bigquery_dataset_iam_member" "looker_reader" {
  count = var.looker_connection_service_account != "" ? 1 : 0

  project    = var.project
  dataset_id = google_bigquery_dataset.writeback.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${var.looker_connection_service_account}"

  depends_on = [google_project_service.apis]
}

# Append-only: exactly what the hub uses. tables.get for the start check and the
# Storage Write API's table lookup, tables.updateData for appending to the default
# stream. No tables.getData (reading rows), tables.update (schema), tables.delete,
# nor jobs.create (DML). roles/bigquery.dataEditor would hold all of those.
resource "google_project_iam_custom_role" "bigquery_append" {
  project     = var.project
  role_id     = "${replace(var.name_prefix, "-", "_")}_bigquery_append"
  title       = "Looker action hub: append to the write-back tables"
  description = "Append rows (Storage Write API default stream) to the tables it is granted on; no reads, no schema changes, no deletes."
  permissions = ["bigquery.tables.get", "bigquery.tables.updateData"]

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_table" "writeback" {
  for_each = local.writeback_tables

  project             = var.project
  dataset_id          = google_bigquery_dataset.writeback.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file(each.value.schema)
  clustering          = each.value.clustering
  deletion_protection = var.table_deletion_protection

  # Every declared table is partitioned by day; a coded action's table may not be.
  dynamic "time_partitioning" {
    for_each = each.value.partition != "" ? [each.value.partition] : []
    content {
      type  = "DAY"
      field = time_partitioning.value
    }
  }

  depends_on = [google_project_service.apis]
}

# Table-level grants: the writers can append to these tables and nothing else.
resource "google_bigquery_table_iam_member" "writer" {
  for_each = local.table_grants

  project    = var.project
  dataset_id = google_bigquery_dataset.writeback.dataset_id
  table_id   = google_bigquery_table.writeback[each.value.table].table_id
  role       = google_project_iam_custom_role.bigquery_append.name
  member     = each.value.member

  depends_on = [google_project_service.apis]
}
