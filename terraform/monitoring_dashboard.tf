# The dashboard's charts (terraform/monitoring.tf creates the dashboard), two to a row, and the
# log lines of the executes that did not succeed below them. docs/monitoring.md explains each.

locals {
  # Sums of a counter per minute, split by a label.
  per_minute = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }

  dashboard_charts = concat(
    [
      {
        title = "Executes by outcome"
        xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [{
          plotType = "STACKED_BAR"
          timeSeriesQuery = { timeSeriesFilter = {
            filter      = "metric.type=\"${local.metric_type["executes"]}\" AND resource.type=\"cloud_run_revision\""
            aggregation = merge(local.per_minute, { groupByFields = ["metric.label.outcome"] })
          } }
        }] }
      },
      {
        title = "Executes by action"
        xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [{
          plotType = "LINE"
          timeSeriesQuery = { timeSeriesFilter = {
            filter      = "metric.type=\"${local.metric_type["executes"]}\" AND resource.type=\"cloud_run_revision\""
            aggregation = merge(local.per_minute, { groupByFields = ["metric.label.action"] })
          } }
        }] }
      },
      {
        title = "Share of executes ${join(", ", local.failure_outcomes)} (alert above ${var.alert_failure_rate})"
        xyChart = {
          chartOptions = { mode = "COLOR" }
          thresholds   = [{ value = var.alert_failure_rate, color = "RED", direction = "ABOVE" }]
          dataSets = [{
            plotType = "LINE"
            timeSeriesQuery = { timeSeriesFilterRatio = {
              numerator = {
                filter      = "metric.type=\"${local.metric_type["executes"]}\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome = one_of(${join(", ", [for o in local.failure_outcomes : "\"${o}\""])})"
                aggregation = { alignmentPeriod = "600s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
              }
              denominator = {
                filter      = "metric.type=\"${local.metric_type["executes"]}\" AND resource.type=\"cloud_run_revision\""
                aggregation = { alignmentPeriod = "600s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_SUM" }
              }
            } }
          }]
        }
      },
      {
        title = "Execute duration (ms), 99th percentile by action"
        xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [{
          plotType = "LINE"
          timeSeriesQuery = { timeSeriesFilter = {
            filter      = "metric.type=\"${local.metric_type["execute_duration"]}\" AND resource.type=\"cloud_run_revision\""
            aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_99", groupByFields = ["metric.label.action"] }
          } }
        }] }
      },
      {
        title = "Rows delivered per execute"
        xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [{
          plotType = "HEATMAP"
          timeSeriesQuery = { timeSeriesFilter = {
            filter      = "metric.type=\"${local.metric_type["rows_delivered"]}\" AND resource.type=\"cloud_run_revision\""
            aggregation = local.per_minute
          } }
        }] }
      },
      {
        title = "Rows rejected per execute"
        xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [{
          plotType = "HEATMAP"
          timeSeriesQuery = { timeSeriesFilter = {
            filter      = "metric.type=\"${local.metric_type["rows_rejected"]}\" AND resource.type=\"cloud_run_revision\""
            aggregation = local.per_minute
          } }
        }] }
      },
      {
        title = "Failure events per minute"
        xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [
          for k in ["ledger_write_failures", "bigquery_append_failures", "secret_refresh_failures", "start_failures"] : {
            plotType       = "LINE"
            legendTemplate = replace(k, "_", " ")
            timeSeriesQuery = { timeSeriesFilter = {
              filter      = "metric.type=\"${local.metric_type[k]}\" AND resource.type=\"cloud_run_revision\""
              aggregation = local.per_minute
            } }
          }
        ] }
      },
      {
        title = "Instances per service (max_instances ${var.max_instances})"
        xyChart = {
          chartOptions = { mode = "COLOR" }
          thresholds   = [{ value = var.max_instances, color = "RED", direction = "ABOVE" }]
          dataSets = [{
            plotType = "LINE"
            timeSeriesQuery = { timeSeriesFilter = {
              filter      = "metric.type=\"run.googleapis.com/container/instance_count\" AND resource.type=\"cloud_run_revision\" AND ${local.service_filter}"
              aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.service_name"] }
            } }
          }]
        }
      },
    ],
    length(local.gateway_conditions) == 0 ? [] : [{
      title = "Front door: 429 and 504 responses per minute"
      xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [
        for name, filter in local.gateway_conditions : {
          plotType        = "LINE"
          legendTemplate  = name
          timeSeriesQuery = { timeSeriesFilter = { filter = filter, aggregation = local.per_minute } }
        }
      ] }
    }],
    length(local.uptime_checks) == 0 ? [] : [{
      title = "Uptime checks: share of checker regions passing"
      xyChart = { chartOptions = { mode = "COLOR" }, dataSets = [{
        plotType = "LINE"
        timeSeriesQuery = { timeSeriesFilter = {
          filter      = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id = one_of(${join(", ", [for c in google_monitoring_uptime_check_config.fn : "\"${c.uptime_check_id}\""])})"
          aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_FRACTION_TRUE", crossSeriesReducer = "REDUCE_MEAN", groupByFields = ["resource.label.host"] }
        } }
      }] }
    }],
  )

  # The outcome lines of executes that did not succeed (WARNING: partial, invalid, refused;
  # ERROR: failed, interrupted): run_id, error_kind and error_message of each.
  unsuccessful_executes = "${local.hub_logs} AND jsonPayload.event=\"execute_outcome\" AND severity>=WARNING"

  dashboard_tiles = concat(
    [for i, chart in local.dashboard_charts : { xPos = (i % 2) * 6, yPos = floor(i / 2) * 4, width = 6, height = 4, widget = chart }],
    [{
      xPos   = 0
      yPos   = ceil(length(local.dashboard_charts) / 2) * 4
      width  = 12
      height = 6
      widget = {
        title     = "Executes that did not succeed"
        logsPanel = { filter = local.unsuccessful_executes, resourceNames = ["projects/${var.project}"] }
      }
    }],
  )
}
