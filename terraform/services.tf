locals {
  # Until the first apply has created the gateway, the services need some valid
  # URL; scripts/deploy.sh applies again with the gateway's URL.
  public_base_url = var.public_base_url != "" ? var.public_base_url : "https://pending-first-apply.invalid"

  # The hub's settings (README.md, "Settings"), the same for every function.
  settings_env = {
    HUB_PUBLIC_URL       = local.public_base_url
    HUB_BEHIND_GATEWAY   = "true"
    HUB_LOG_FORMAT       = "json"
    RUST_LOG             = var.log_level
    GOOGLE_CLOUD_PROJECT = var.project
  }

  # Settings of the OAuth (issue 3) and BigQuery (issue 4) work, which is not
  # merged yet: these names are proposals to be aligned with those branches.
  pending_settings_env = {
    HUB_IDENTITY_MODE   = var.identity_mode
    HUB_OAUTH_CLIENT_ID = var.oauth_client_id
    HUB_LOOKER_HOSTS    = join(",", var.looker_hosts)
    HUB_BQ_DATASET      = var.bigquery_dataset
  }

  # Secret settings, injected by Cloud Run from Secret Manager at instance start
  # (version "latest"): the values never pass through terraform.
  secret_env_names = {
    looker_token        = "HUB_TOKENS"
    state_key           = "HUB_STATE_KEYS"          # pending: issue 3
    oauth_client_secret = "HUB_OAUTH_CLIENT_SECRET" # pending: issue 3
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

  template {
    service_account                  = google_service_account.fn[each.key].email
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
          memory = "256Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = merge(local.settings_env, local.pending_settings_env)
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = toset([for s in each.value.secrets : s if contains(keys(local.secrets), s)])
        content {
          name = local.secret_env_names[env.value]
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.hub[env.value].secret_id
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 1
        failure_threshold = 10
        timeout_seconds   = 1
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.identity_mode != "user" || var.oauth_client_id != ""
      error_message = "identity_mode \"user\" needs oauth_client_id."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.access,
  ]
}
