locals {
  # Until the first apply has created the gateway, the services need some valid
  # URL; scripts/deploy.sh applies again with the gateway's URL.
  public_base_url = var.public_base_url != "" ? var.public_base_url : "https://pending-first-apply.invalid"

  # The hub's settings (docs/settings.md) every function gets.
  settings_env = {
    HUB_PUBLIC_URL       = local.public_base_url
    HUB_BEHIND_GATEWAY   = "true"
    HUB_LOG_FORMAT       = "json"
    RUST_LOG             = var.log_level
    GOOGLE_CLOUD_PROJECT = var.project
    HUB_IDENTITY_MODE    = var.identity_mode
    HUB_LOOKER_HOSTS     = join(",", var.looker_hosts)
    OAUTH_CLIENT_ID      = var.oauth_client_id
    # Secret Manager references are re-read this often (rotation without redeploy).
    HUB_SECRETS_REFRESH_SECS = "300"
    # At start, secret reads and the BigQuery table check are retried this long: the
    # IAM grants made seconds before the first revision may not have propagated yet.
    HUB_STARTUP_RETRY_SECS = tostring(local.startup_retry_secs)
  }

  # The actions file (actions_dir): mounted from Secret Manager (terraform/actions.tf)
  # in every function, which all build their actions from it.
  actions_env = local.actions_file ? { HUB_ACTIONS_FILE = "${local.actions_mount}/actions.yaml" } : {}

  # The startup probe's window must outlast the hub's bounded start retries plus one
  # more attempt (a Secret Manager read may take HUB_SECRET_MANAGER_TIMEOUT_SECS, 10 s)
  # and the listener coming up: 5 s x 46 = 230 s for 200 s of retries, near Cloud Run's
  # 240 s maximum. IAM grants can take longer (Google documents up to ~7 minutes):
  # scripts/deploy.sh then applies again (a new revision, a new 200 s) until they arrive.
  startup_retry_secs      = 200
  startup_probe_period    = 5
  startup_probe_threshold = ceil((local.startup_retry_secs + 30) / local.startup_probe_period)

  # BigQuery write-back is configured in execute alone: the other functions
  # never write and have no access to the tables.
  bigquery_env = {
    HUB_GCP_PROJECT            = var.project
    HUB_BIGQUERY_DATASET       = google_bigquery_dataset.writeback.dataset_id
    HUB_BIGQUERY_CREATE_TABLES = "false"
  }
  # The built-in actions' table names (a declared action names its table in the file).
  builtin_table_env = local.actions_file ? {} : {
    HUB_BIGQUERY_MARKS_TABLE = google_bigquery_table.writeback["suspicious_marks"].table_id
    HUB_BIGQUERY_BATCH_TABLE = google_bigquery_table.writeback["suspicious_marks_batch"].table_id
  }
  # RudderStack sources (rudder_sources): the services that serve the RudderStack actions
  # (list, form, execute) get RUDDER_SOURCES, with each write key as its secret's reference; only
  # execute may read them (secrets.tf). Without sources the actions take Looker action params.
  rudder_env = length(local.rudder_sources) == 0 ? {} : merge(
    {
      # In the order declared: the form lists them so.
      RUDDER_SOURCES = jsonencode([
        for s in var.rudder_sources : {
          for field, value in {
            name           = s.name
            label          = s.label
            write_key      = "${google_secret_manager_secret.hub["rudder_${replace(lower(s.name), "-", "_")}"].id}/versions/latest"
            data_plane_url = s.data_plane_url
          } : field => value if value != null
        }
      ])
    },
    var.rudder_data_plane_url != "" ? { RUDDER_DATA_PLANE_URL = var.rudder_data_plane_url } : {},
  )
  rudder_functions = ["actions_list", "action_form", "action_execute"]

  # What one execute instance takes on (docs/operations.md, "Operating at scale"): the hub's execute
  # budget comes from the same variable as Cloud Run's timeout and the gateway's deadline; the
  # memory budget is the instance's memory less what the process itself needs.
  capacity_env = {
    HUB_EXECUTE_TIMEOUT_SECS = tostring(var.execute_timeout_seconds)
    HUB_QUERY_EXECUTES       = tostring(var.execute_query_executes)
  }
  # Every function's memory budget: its instance's memory less what the process itself needs.
  memory_budget_env = {
    for f, fn in local.functions : f => {
      HUB_MEMORY_BUDGET_BYTES = tostring((tonumber(trimsuffix(fn.memory, "Mi")) - local.hub_base_memory_mib) * 1048576)
    }
  }

  function_env = {
    for f, _ in local.functions : f => merge(
      local.settings_env,
      local.actions_env,
      local.memory_budget_env[f],
      contains(local.rudder_functions, f) ? local.rudder_env : {},
      contains(local.change_functions, f) ? local.change_env : {},
      f == "action_execute" ? merge(local.bigquery_env, local.builtin_table_env, local.capacity_env) : {},
    )
  }

  # Secret settings: each function gets Secret Manager references (resolved and
  # refreshed by the hub itself) for the secrets it uses, and only those.
  secret_env_names = {
    looker_token        = "HUB_TOKENS"
    state_key           = "OAUTH_STATE_KEYS"
    oauth_client_secret = "OAUTH_CLIENT_SECRET"
  }
}

resource "google_cloud_run_v2_service" "fn" {
  for_each = local.functions

  project             = var.project
  location            = var.region
  name                = local.service_names[each.key]
  description         = "Looker action hub: ${each.key}"
  ingress             = var.ingress
  deletion_protection = false
  custom_audiences    = [local.audiences[each.key]]

  # Every deploy routes all traffic to the revision it creates, also after a rollback
  # (scripts/deploy.sh --rollback) pinned an earlier one.
  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  template {
    service_account = google_service_account.fn[each.key].email
    # A new version of the actions file is a new revision: every function serves the same file.
    dynamic "volumes" {
      for_each = local.actions_file ? { actions = google_secret_manager_secret_version.actions[0].version } : {}
      content {
        name = volumes.key
        secret {
          secret = google_secret_manager_secret.actions[0].secret_id
          items {
            version = volumes.value
            path    = "actions.yaml"
          }
        }
      }
    }
    # A fixed egress IP (optional): all outbound traffic through a subnet of your VPC, whose
    # Cloud NAT has a static address (docs/deployment.md, "A fixed egress IP").
    dynamic "vpc_access" {
      for_each = var.egress_subnetwork != "" ? [var.egress_subnetwork] : []
      content {
        egress = "ALL_TRAFFIC"
        network_interfaces {
          network    = var.egress_network
          subnetwork = vpc_access.value
        }
      }
    }
    timeout                          = "${each.value.timeout}s"
    max_instance_request_concurrency = each.value.concurrency

    scaling {
      min_instance_count = 0
      max_instance_count = var.max_instances
    }

    containers {
      image = "${local.image_repository}/${each.key}:${var.image_tag}"

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = each.value.memory
        }
        # Execute keeps its CPU between requests: an execute goes on after Looker hung up or
        # while it streams keep-alive newlines, and a throttled CPU would miss its time limit.
        cpu_idle          = each.key != "action_execute"
        startup_cpu_boost = true
      }

      dynamic "volume_mounts" {
        for_each = local.actions_file ? toset(["actions"]) : toset([])
        content {
          name       = volume_mounts.value
          mount_path = local.actions_mount
        }
      }

      dynamic "env" {
        for_each = local.function_env[each.key]
        content {
          name  = env.key
          value = env.value
        }
      }

      # Secret settings are Secret Manager references, not values: the hub resolves them at
      # start with its service account and re-reads them every HUB_SECRETS_REFRESH_SECS, so a
      # new version behind "latest" is live without a redeploy. No value passes through terraform.
      dynamic "env" {
        for_each = toset(local.function_secrets[each.key])
        content {
          name  = local.secret_env_names[env.value]
          value = "${google_secret_manager_secret.hub[env.value].id}/versions/latest"
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = local.startup_probe_period
        failure_threshold = local.startup_probe_threshold
        timeout_seconds   = local.startup_probe_period
      }

      # A started instance whose listener stops answering is restarted; 3 misses a minute
      # apart, so a busy instance (an execute streaming for minutes) is not.
      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 60
        failure_threshold = 3
        timeout_seconds   = 10
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.identity_mode != "user" || var.oauth_client_id != ""
      error_message = "identity_mode \"user\" needs oauth_client_id."
    }
    precondition {
      condition     = !local.gateway_enabled || var.ingress == "INGRESS_TRAFFIC_ALL"
      error_message = "API Gateway reaches Cloud Run from outside any VPC: with the gateway on, ingress must be INGRESS_TRAFFIC_ALL (the services stay private by IAM)."
    }
    precondition {
      condition     = var.rudder_data_plane_url != "" || alltrue([for s in var.rudder_sources : s.data_plane_url != null])
      error_message = "Every RudderStack source needs a data plane URL: set data_plane_url on each of rudder_sources, or rudder_data_plane_url for those without one."
    }
    precondition {
      condition     = local.execute_memory_budget_bytes >= local.execute_least_memory_budget_bytes
      error_message = "execute_memory_mib is too small for execute_query_executes: the memory budget (execute_memory_mib - ${local.hub_base_memory_mib} MiB for the process) must hold execute_query_executes x 64 MiB (a query execute's working set) + 2 x 32 MiB + 64 KiB (the largest click besides them). Raise execute_memory_mib or lower execute_query_executes (docs/operations.md, \"Operating at scale\")."
    }
    precondition {
      condition     = var.execute_concurrency >= 2 * var.execute_query_executes + local.execute_click_slots
      error_message = "execute_concurrency must be at least 2 x execute_query_executes + ${local.execute_click_slots}: query executes run or wait in line (as many as run) and clicks keep ${local.execute_click_slots} slots per instance (docs/operations.md, \"Operating at scale\")."
    }
    precondition {
      condition     = local.gateway_enabled || var.public_base_url != ""
      error_message = "Without API Gateway (Apigee is the front door) set public_base_url to the URL Looker calls, e.g. https://api.example.com/looker-action-hub."
    }
  }

  # A new revision starts after what it uses exists: its secrets readable, and the tables
  # with every column it writes (an added column is applied before the revision writing it)
  # and appendable by it.
  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.access,
    google_secret_manager_secret_iam_member.actions,
    google_bigquery_table.writeback,
    google_bigquery_table_iam_member.writer,
    google_storage_bucket_iam_member.change_state,
  ]
}
