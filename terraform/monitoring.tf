# Cloud Monitoring: log-based metrics from the hub's own log lines, alert policies, a dashboard
# and an authenticated uptime check of each service (docs/monitoring.md). Every filter here is
# evaluated against real log lines of the hub binary by scripts/monitoring_check.py.

locals {
  # The hub's log entries: the Cloud Run services of this deployment, nothing else in the project.
  hub_logs = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "(${join(" OR ", [for f in sort(keys(local.functions)) : "resource.labels.service_name=\"${local.service_names[f]}\""])})",
  ])

  # The log-based metrics, by their key. `select` picks the hub's lines (its JSON lines by their
  # `event` field: one outcome line per execute, one line per failure); `labels` are read from the
  # line (jsonPayload.<name>); `value` makes a distribution of that integer field.
  log_metrics = {
    executes = {
      select      = "jsonPayload.event=\"execute_outcome\""
      description = "Executes, one per Looker execute call when it ends, by action, outcome (success, partial, failed, invalid, interrupted, refused), kind (cell or query) and the first error's kind."
      labels      = ["action", "outcome", "kind", "error_kind"]
      value       = null
      unit        = "1"
    }
    rows_delivered = {
      select      = "jsonPayload.event=\"execute_outcome\""
      description = "Rows one execute delivered (written to the table or confirmed by the data plane), by action."
      labels      = ["action"]
      value       = "rows_delivered"
      unit        = "1"
    }
    rows_rejected = {
      select      = "jsonPayload.event=\"execute_outcome\""
      description = "Rows one execute rejected because their values do not fit (a refused or unreachable destination counts as unconfirmed), by action."
      labels      = ["action"]
      value       = "rows_rejected"
      unit        = "1"
    }
    execute_duration = {
      select      = "jsonPayload.event=\"execute_outcome\""
      description = "How long one execute took, from Looker's call to its end, by action."
      labels      = ["action"]
      value       = "duration_ms"
      unit        = "ms"
    }
    ledger_write_failures = {
      select      = "jsonPayload.event=\"ledger_write_failed\""
      description = "Run records or rejected rows the hub could not store in its ledger tables (the execute itself is not affected)."
      labels      = []
      value       = null
      unit        = "1"
    }
    bigquery_append_failures = {
      select      = "jsonPayload.event=\"bigquery_append_failed\""
      description = "Failed appends to a BigQuery write-back table; retrying is true when the append was tried again on a new connection."
      labels      = ["retrying"]
      value       = null
      unit        = "1"
    }
    secret_refresh_failures = {
      select      = "jsonPayload.event=\"secret_refresh_failed\""
      description = "Secret Manager re-reads that failed (the hub keeps the last good value), by setting."
      labels      = ["setting"]
      value       = null
      unit        = "1"
    }
    start_failures = {
      # Every refusal writes this one stderr line, also a setting refused before the JSON logs start
      # (the JSON line of the others, event start_failed, would count them twice).
      select      = "logName=~\"/logs/run.googleapis.com%2Fstderr$\" AND textPayload=~\"^action hub: cannot start\""
      description = "Instances that refused to start (settings, tables, secrets): a revision that cannot serve."
      labels      = []
      value       = null
      unit        = "1"
    }
  }

  # The metric type an alert or chart reads, by metric key.
  metric_type = { for k, m in google_logging_metric.hub : k => "logging.googleapis.com/user/${m.name}" }

  # Outcomes the failure-rate alert counts: the hub or a destination failed. `invalid` (the
  # business user's input) and `refused` (the caller was not allowed) are not the hub failing.
  failure_outcomes = ["failed", "partial", "interrupted"]

  service_filter = "resource.label.service_name = one_of(${join(", ", [for f in sort(keys(local.functions)) : "\"${local.service_names[f]}\""])})"

  # The front doors' own response counts (their 429 and 504 never reach the hub's logs).
  gateway_conditions = merge(
    local.gateway_enabled ? {
      for code in [429, 504] : "API Gateway ${code}" => "metric.type=\"apigateway.googleapis.com/proxy/request_count\" AND resource.type=\"apigateway.googleapis.com/Gateway\" AND resource.label.gateway_id=\"${var.name_prefix}\" AND metric.label.response_code=${code}"
    } : {},
    local.apigee_enabled ? {
      for code in [429, 504] : "Apigee ${code}" => "metric.type=\"apigee.googleapis.com/proxy/response_count\" AND resource.type=\"apigee.googleapis.com/Proxy\" AND resource.label.proxy_name=\"${local.apigee_proxy_name}\" AND resource.label.env=\"${var.apigee_environment}\" AND metric.label.response_code=${code}"
    } : {},
  )
  # The proxy bundle's name (apigee/apiproxy/looker-action-hub.xml).
  apigee_proxy_name = "looker-action-hub"

  # Uptime checks reach each service's own URL from Google's checkers on the internet: only with
  # ingress open to all (the services stay private by IAM: the checks carry an ID token).
  uptime_checks = var.ingress == "INGRESS_TRAFFIC_ALL" ? local.functions : {}
  # Cloud Run's front end keeps some paths ending in z to itself: /healthz answers only the probes.
  uptime_path = "/health"
}

resource "google_logging_metric" "hub" {
  for_each = local.log_metrics

  project     = var.project
  name        = "${var.name_prefix}/${each.key}"
  description = each.value.description
  filter      = "${local.hub_logs} AND ${each.value.select}"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = each.value.value == null ? "INT64" : "DISTRIBUTION"
    unit         = each.value.unit
    display_name = "${var.name_prefix} ${replace(each.key, "_", " ")}"

    dynamic "labels" {
      for_each = toset(each.value.labels)
      content {
        key        = labels.value
        value_type = "STRING"
      }
    }
  }

  label_extractors = { for l in each.value.labels : l => "EXTRACT(jsonPayload.${l})" }
  value_extractor  = each.value.value == null ? null : "EXTRACT(jsonPayload.${each.value.value})"

  dynamic "bucket_options" {
    for_each = each.value.value == null ? [] : [1]
    content {
      # 1, 4, 16, ... 4^19 (about 2.7e11): rows of one execute and milliseconds alike.
      exponential_buckets {
        num_finite_buckets = 20
        growth_factor      = 4
        scale              = 1
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# The Monitoring service agent signs the uptime checks' ID tokens; it exists once asked for.
resource "google_project_service_identity" "monitoring" {
  count    = length(local.uptime_checks) > 0 ? 1 : 0
  provider = google-beta

  project = var.project
  service = "monitoring.googleapis.com"

  depends_on = [google_project_service.apis]
}

resource "google_cloud_run_v2_service_iam_member" "uptime_invoker" {
  for_each = local.uptime_checks

  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_project_service_identity.monitoring[0].email}"

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_uptime_check_config" "fn" {
  for_each = local.uptime_checks

  project      = var.project
  display_name = "${local.service_names[each.key]} ${local.uptime_path}"
  period       = "300s"
  timeout      = "10s"

  http_check {
    request_method = "GET"
    path           = local.uptime_path
    port           = 443
    use_ssl        = true
    validate_ssl   = true

    # An ID token of the Monitoring service agent, whose audience is the service's URL.
    service_agent_authentication {
      type = "OIDC_TOKEN"
    }

    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  # The hub's own answer, not a 200 of something in front of it.
  content_matchers {
    content = "\"status\":\"ok\""
    matcher = "CONTAINS_STRING"
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project
      host       = trimprefix(google_cloud_run_v2_service.fn[each.key].uri, "https://")
    }
  }

  depends_on = [google_project_service.apis, google_cloud_run_v2_service_iam_member.uptime_invoker]
}

resource "google_monitoring_alert_policy" "failure_rate" {
  project               = var.project
  display_name          = "${var.name_prefix}: executes failing"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More than ${var.alert_failure_rate * 100} % of executes ${join(", ", local.failure_outcomes)} over 10 minutes"
    condition_threshold {
      filter             = "metric.type=\"${local.metric_type["executes"]}\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome = one_of(${join(", ", [for o in local.failure_outcomes : "\"${o}\""])})"
      denominator_filter = "metric.type=\"${local.metric_type["executes"]}\" AND resource.type=\"cloud_run_revision\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_failure_rate
      duration           = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Executes of the Looker action hub end failed, partial or interrupted. Open the dashboard \"${var.name_prefix} action hub\": the executes by outcome and action say which action; the panel of failed executes gives each run's run_id, error_kind and error_message (docs/monitoring.md, \"During an incident\")."
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "instances_at_max" {
  project               = var.project
  display_name          = "${var.name_prefix}: a service at its maximum instances"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Instances of a service at max_instances (${var.max_instances}) for 5 minutes"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/container/instance_count\" AND resource.type=\"cloud_run_revision\" AND ${local.service_filter}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.max_instances - 0.5
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A service of the Looker action hub runs as many instances as max_instances allows: new calls wait or get 429. Raise max_instances (or execute_concurrency for execute), or find what holds the instances (slow executes: the dashboard's execute duration) (docs/monitoring.md)."
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "gateway_errors" {
  count = length(local.gateway_conditions) > 0 ? 1 : 0

  project               = var.project
  display_name          = "${var.name_prefix}: front door answers 429 or 504"
  combiner              = "OR"
  notification_channels = var.notification_channels

  dynamic "conditions" {
    for_each = local.gateway_conditions
    content {
      display_name = "${conditions.key}: more than ${var.alert_gateway_errors} in 5 minutes"
      condition_threshold {
        filter          = conditions.value
        comparison      = "COMPARISON_GT"
        threshold_value = var.alert_gateway_errors
        duration        = "0s"
        aggregations {
          alignment_period     = "300s"
          per_series_aligner   = "ALIGN_DELTA"
          cross_series_reducer = "REDUCE_SUM"
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The front door of the Looker action hub answers 429 (a quota, or no instance free) or 504 (an execute outlasted the deadline). 429: check the instances-at-maximum alert and Apigee's quota; 504: the dashboard's execute duration against execute_timeout_seconds (docs/monitoring.md)."
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "start_failures" {
  project               = var.project
  display_name          = "${var.name_prefix}: instances fail to start"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "An instance refused to start"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_type["start_failures"]}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An instance of the Looker action hub refused to start: its stderr line \"action hub: cannot start: ...\" names the setting, table or secret (docs/monitoring.md)."
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "records_or_secrets" {
  project               = var.project
  display_name          = "${var.name_prefix}: run records or secrets failing"
  combiner              = "OR"
  notification_channels = var.notification_channels

  dynamic "conditions" {
    for_each = { for k in ["ledger_write_failures", "secret_refresh_failures"] : k => local.metric_type[k] }
    content {
      display_name = "${replace(conditions.key, "_", " ")} in 5 minutes"
      condition_threshold {
        filter          = "metric.type=\"${conditions.value}\" AND resource.type=\"cloud_run_revision\""
        comparison      = "COMPARISON_GT"
        threshold_value = 0
        duration        = "0s"
        aggregations {
          alignment_period     = "300s"
          per_series_aligner   = "ALIGN_DELTA"
          cross_series_reducer = "REDUCE_SUM"
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Ledger writes failing lose the run history (Looker's answers are not affected); secret refreshes failing keep the last good secret, so a rotation is not picked up. The log lines (jsonPayload.event=\"ledger_write_failed\" or \"secret_refresh_failed\") carry the error (docs/monitoring.md)."
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "uptime" {
  count = length(local.uptime_checks) > 0 ? 1 : 0

  project               = var.project
  display_name          = "${var.name_prefix}: a service does not answer its uptime check"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Uptime check failing from more than one region"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id = one_of(${join(", ", [for c in google_monitoring_uptime_check_config.fn : "\"${c.uptime_check_id}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "600s"
      aggregations {
        alignment_period     = "1200s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A Cloud Run service of the Looker action hub does not answer GET ${local.uptime_path} with an ID token of the Monitoring service agent: no revision serves (start failures?), or the agent lost roles/run.invoker (docs/monitoring.md)."
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_dashboard" "hub" {
  project = var.project
  dashboard_json = jsonencode({
    displayName = "${var.name_prefix} action hub"
    mosaicLayout = {
      columns = 12
      tiles   = local.dashboard_tiles
    }
  })

  depends_on = [google_project_service.apis]
}
