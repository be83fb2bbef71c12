locals {
  # The OpenAPI 2.0 spec with each function's Cloud Run URL filled in.
  openapi_spec = templatefile("${path.module}/../deploy/openapi.yaml", merge(
    { for f, _ in local.functions : "${f}_url" => google_cloud_run_v2_service.fn[f].uri },
    {
      title            = "${var.name_prefix} Looker action hub"
      execute_deadline = var.execute_timeout_seconds
    },
  ))
  openapi_paths = keys(yamldecode(local.openapi_spec).paths)
}

resource "google_api_gateway_api" "hub" {
  provider = google-beta

  project      = var.project
  api_id       = var.name_prefix
  display_name = "Looker action hub"

  depends_on = [google_project_service.apis]
}

resource "google_api_gateway_api_config" "hub" {
  provider = google-beta

  project              = var.project
  api                  = google_api_gateway_api.hub.api_id
  api_config_id_prefix = "${var.name_prefix}-"

  openapi_documents {
    document {
      path     = "openapi.yaml"
      contents = base64encode(local.openapi_spec)
    }
  }

  gateway_config {
    backend_config {
      google_service_account = google_service_account.gateway.email
    }
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = toset(local.openapi_paths) == toset([for r in local.routes : r.path])
      error_message = "deploy/openapi.yaml and local.routes in terraform/main.tf must name the same paths."
    }
  }
}

resource "google_api_gateway_gateway" "hub" {
  provider = google-beta

  project      = var.project
  region       = var.region
  gateway_id   = var.name_prefix
  api_config   = google_api_gateway_api_config.hub.id
  display_name = "Looker action hub"
}
