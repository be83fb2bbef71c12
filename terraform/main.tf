# One Cloud Run service per function of the hub, each with its own service account,
# fronted by API Gateway (and optionally Apigee). See docs/deployment.md.

locals {
  user_identity = var.identity_mode == "user"

  image_repository = var.image_repository != "" ? var.image_repository : "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"

  # The five functions: the keys are the core crate's service names
  # (routes::Function::service_name). `short` names the service account (30
  # character limit). Execute gets more memory: it streams results with bounded
  # buffers, `execute_concurrency` at once. `secrets` lists every secret the
  # function may read, which is what it needs and no more:
  # - HUB_TOKENS: every function Looker calls with the hub token (not oauth_initiate and
  #   oauth_callback, which only browsers reach with a sealed state: the hub starts them without
  #   one; Looker's OAuth v2 code exchange, oauth_token, is action_form's);
  # - OAuth state keys: the functions that seal or open state and token bundles;
  # - OAuth client secret: the callback and form (code exchange: v1 at the callback, v2 at
  #   oauth_token) and form / execute, which refresh an expired user access token with it.
  # Secrets the identity mode does not create are skipped (secrets.tf).
  all_functions = {
    actions_list = {
      short       = "list"
      timeout     = 60
      concurrency = var.concurrency
      memory      = "256Mi"
      secrets     = ["looker_token"]
    }
    action_form = {
      short       = "form"
      timeout     = 60
      concurrency = var.concurrency
      memory      = "256Mi"
      secrets     = ["looker_token", "state_key", "oauth_client_secret"]
    }
    action_execute = {
      short       = "exec"
      timeout     = var.execute_timeout_seconds
      concurrency = var.execute_concurrency
      memory      = "${var.execute_memory_mib}Mi"
      secrets     = ["looker_token", "state_key", "oauth_client_secret"]
    }
    oauth_initiate = {
      short       = "oinit"
      timeout     = 60
      concurrency = var.concurrency
      memory      = "256Mi"
      secrets     = ["state_key"]
    }
    oauth_callback = {
      short       = "ocb"
      timeout     = 60
      concurrency = var.concurrency
      memory      = "256Mi"
      secrets     = ["state_key", "oauth_client_secret"]
    }
  }

  # The functions deployed: the OAuth ones only in identity_mode "user" (in service mode nobody
  # logs in, so there is nothing for them to serve and no secret for them to hold).
  functions = {
    for f, cfg in local.all_functions : f => cfg if local.user_identity || !startswith(f, "oauth_")
  }

  # The routes as terraform knows them: every path the gateway serves and the
  # function behind it. The same list as the core crate's route table
  # (crates/core/src/routes.rs), deploy/openapi.yaml and apigee/apiproxy, checked
  # by crates/core/tests/api/paths.rs; the gateway config's precondition checks
  # the spec against this list at plan time too.
  routes = [
    { method = "POST", path = "/", function = "actions_list" },
    { method = "POST", path = "/actions/{name}", function = "actions_list" },
    { method = "POST", path = "/actions/{name}/form", function = "action_form" },
    { method = "POST", path = "/actions/{name}/execute", function = "action_execute" },
    { method = "GET", path = "/actions/{name}/oauth", function = "oauth_initiate" },
    { method = "GET", path = "/oauth_redirect", function = "oauth_callback" },
    { method = "GET", path = "/actions/{name}/oauth_redirect", function = "oauth_callback" },
    { method = "POST", path = "/actions/{name}/oauth_token", function = "action_form" },
  ]

  # The execute instance's memory formula (docs/operations.md, "Operating at scale"), the same as the
  # hub's start check (crates/core/src/capacity): the budget is the instance's memory less what
  # the process itself needs, and must hold every query slot's working set and the largest body.
  hub_base_memory_mib               = 128
  execute_memory_budget_bytes       = (var.execute_memory_mib - local.hub_base_memory_mib) * 1048576
  execute_least_memory_budget_bytes = var.execute_query_executes * 64 * 1048576 + 2 * 32 * 1048576 + 65536
  # Execute slots per instance left to clicks when every query execute runs or waits.
  execute_click_slots = 4

  # The routes of the functions deployed: what the gateway serves. Looker's OAuth v2 code
  # exchange is action_form's (the function that holds the hub token), but only a user login
  # reaches it: in service mode it is left out with the other OAuth routes.
  login_only_paths = ["/actions/{name}/oauth_token"]
  served_routes = [
    for r in local.routes : r
    if contains(keys(local.functions), r.function) && (local.user_identity || !contains(local.login_only_paths, r.path))
  ]

  # Cloud Run service names use hyphens.
  service_names = { for f, _ in local.functions : f => "${var.name_prefix}-${replace(f, "_", "-")}" }

  # Custom audience of each service: the ID token audience the Apigee bundle asks
  # for (a fixed string, so the bundle needs no per-deployment edits).
  audiences = { for f, _ in local.functions : f => "looker-action-hub-${replace(f, "_", "-")}" }

  # The front door: API Gateway unless Apigee is (then only when asked for with
  # api_gateway = true, which opens a second way in that skips Apigee's quota).
  gateway_enabled = var.api_gateway != null ? var.api_gateway : !local.apigee_enabled

  # Every API a resource here calls. Each resource depends on google_project_service.apis
  # (the provider does not retry SERVICE_DISABLED on an empty project); checked by
  # scripts/deploy_rehearsal.py.
  required_apis = concat(
    [
      "artifactregistry.googleapis.com",
      "bigquery.googleapis.com",
      "bigquerystorage.googleapis.com",
      "iam.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    local.gateway_enabled ? [
      "apigateway.googleapis.com",
      "servicecontrol.googleapis.com",
      "servicemanagement.googleapis.com",
    ] : [],
    local.apigee_enabled ? ["apigee.googleapis.com"] : [],
  )
}

resource "google_project_service" "apis" {
  for_each = toset(local.required_apis)

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "images" {
  project       = var.project
  location      = var.region
  repository_id = "${var.name_prefix}-images"
  format        = "DOCKER"
  description   = "Container images of the Looker action hub, one per function."

  depends_on = [google_project_service.apis]
}
