locals {
  # The OpenAPI 2.0 spec with each function's Cloud Run URL filled in (a function not deployed
  # gets a URL that resolves nowhere, and its paths are left out below).
  openapi_template = templatefile("${path.module}/../deploy/openapi.yaml", merge(
    {
      for f, _ in local.all_functions : "${f}_url" =>
      contains(keys(local.functions), f) ? google_cloud_run_v2_service.fn[f].uri : "https://not-deployed.invalid"
    },
    {
      title            = "${var.name_prefix} Looker action hub"
      execute_deadline = var.execute_timeout_seconds
    },
  ))
  openapi_doc   = yamldecode(local.openapi_template)
  openapi_paths = keys(local.openapi_doc.paths)
  served_paths  = distinct([for r in local.served_routes : r.path])
  # Every path is served in user mode: the spec as written. In service mode without the OAuth paths.
  openapi_spec = length(local.served_paths) == length(local.openapi_paths) ? local.openapi_template : yamlencode(merge(local.openapi_doc, {
    paths = { for p, v in local.openapi_doc.paths : p => v if contains(local.served_paths, p) }
  }))
  gateway_url = local.gateway_enabled ? "https://${google_api_gateway_gateway.hub[0].default_hostname}" : ""
}

# API Gateway: the front door unless Apigee is (local.gateway_enabled, main.tf).
resource "google_api_gateway_api" "hub" {
  count    = local.gateway_enabled ? 1 : 0
  provider = google-beta

  project      = var.project
  api_id       = var.name_prefix
  display_name = "Looker action hub"

  depends_on = [google_project_service.apis]
}

resource "google_api_gateway_api_config" "hub" {
  count    = local.gateway_enabled ? 1 : 0
  provider = google-beta

  project              = var.project
  api                  = google_api_gateway_api.hub[0].api_id
  api_config_id_prefix = "${var.name_prefix}-"

  openapi_documents {
    document {
      path     = "openapi.yaml"
      contents = base64encode(local.openapi_spec)
    }
  }

  gateway_config {
    backend_config {
      google_service_account = google_service_account.gateway[0].email
    }
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = toset(local.openapi_paths) == toset([for r in local.routes : r.path])
      error_message = "deploy/openapi.yaml and local.routes in terraform/main.tf must name the same paths."
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_api_gateway_gateway" "hub" {
  count    = local.gateway_enabled ? 1 : 0
  provider = google-beta

  project      = var.project
  region       = var.region
  gateway_id   = var.name_prefix
  api_config   = google_api_gateway_api_config.hub[0].id
  display_name = "Looker action hub"

  depends_on = [google_project_service.apis]
}

# The gateway became optional (count): existing deployments keep their gateway,
# and with it the URL Looker has, instead of a new one.
moved {
  from = google_api_gateway_api.hub
  to   = google_api_gateway_api.hub[0]
}

moved {
  from = google_api_gateway_api_config.hub
  to   = google_api_gateway_api_config.hub[0]
}

moved {
  from = google_api_gateway_gateway.hub
  to   = google_api_gateway_gateway.hub[0]
}
