# Secrets are created empty: values are added out of band
# (`gcloud secrets versions add NAME --data-file=-`), so they never enter
# terraform state or plan output. The OAuth ones exist only in identity_mode "user";
# one per RudderStack source (its write key) only with rudder_sources.
locals {
  # rudder_sources by secret key (rudder_<name>, lower case, _ for -): the secret id is
  # <name_prefix>-rudder-<name>.
  rudder_sources = {
    for s in var.rudder_sources : "rudder_${replace(lower(s.name), "-", "_")}" => s
  }

  secrets = merge(
    {
      looker_token = "Hub secret(s) Looker sends (Authorization: Token token=…); comma-separated values are all valid (rotation)."
    },
    local.user_identity ? {
      state_key           = "Key(s) sealing OAuth state and token bundles (base64 of 32 random bytes; comma-separated, the first one seals)."
      oauth_client_secret = "OAuth client secret of oauth_client_id."
    } : {},
    { for k, s in local.rudder_sources : k => "Write key of the RudderStack source ${s.name} (RUDDER_SOURCES)." },
  )

  # Each function's secret settings among those this identity mode creates (each becomes an
  # environment variable holding the secret's reference).
  function_secrets = {
    for f, cfg in local.functions : f => [for s in cfg.secrets : s if contains(keys(local.secrets), s)]
  }

  # (function, secret) pairs: one access grant each. The write keys are read by the service
  # that sends alone (list and form show the sources' names and labels, never read a key).
  secret_access = merge([
    for f, secrets in local.function_secrets : {
      for s in concat(secrets, f == "action_execute" ? keys(local.rudder_sources) : []) :
      "${f}/${s}" => { function = f, secret = s }
    }
  ]...)
}

resource "google_secret_manager_secret" "hub" {
  for_each = local.secrets

  project   = var.project
  secret_id = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  labels    = { app = "looker-action-hub" }

  annotations = {
    purpose = each.value
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "access" {
  for_each = local.secret_access

  project   = var.project
  secret_id = google_secret_manager_secret.hub[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.fn[each.value.function].member

  depends_on = [google_project_service.apis]
}
