variable "project" {
  description = "Google Cloud project id that hosts the action hub (Cloud Run, API Gateway, Secret Manager, BigQuery)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the Cloud Run services and the API Gateway gateway, e.g. europe-west1 (it must be a region where API Gateway is offered)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (services, service accounts, secrets, API Gateway ids)."
  type        = string
  default     = "looker-hub"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters of lowercase letters, digits and hyphens, starting with a letter (service account ids are limited to 30 characters)."
  }
}

variable "image_repository" {
  description = "Artifact Registry repository holding one image per function, named after the binary (e.g. europe-west1-docker.pkg.dev/PROJECT/looker-action-hub). Empty: the repository this configuration creates."
  type        = string
  default     = ""

  validation {
    condition     = var.image_repository == "" || can(regex("^[a-z0-9-]+-docker\\.pkg\\.dev/[a-z0-9-]+/[a-z0-9._-]+$", var.image_repository))
    error_message = "image_repository must be empty or REGION-docker.pkg.dev/PROJECT/REPOSITORY."
  }
}

variable "image_tag" {
  description = "Tag (or sha256:… digest) of the images to deploy; scripts/deploy.sh passes the tag it pushed."
  type        = string

  validation {
    condition     = can(regex("^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$", var.image_tag))
    error_message = "image_tag must be a Docker tag (letters, digits, _ . -, at most 128 characters) or sha256:<64 hex digits>."
  }
}

variable "looker_hosts" {
  description = "Host names of the Looker instance(s) allowed to call the hub and to receive OAuth user state, e.g. [\"example.cloud.looker.com\"]."
  type        = list(string)

  validation {
    condition     = length(var.looker_hosts) > 0 && alltrue([for h in var.looker_hosts : can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", h))])
    error_message = "looker_hosts must list at least one bare host name (no scheme, port or path), e.g. example.cloud.looker.com."
  }
}

variable "identity_mode" {
  description = "Whose identity write-back actions use: \"service\" (the execute service account; the acting user is recorded from a Looker user attribute) or \"user\" (each user's own Google identity through OAuth)."
  type        = string
  default     = "service"

  validation {
    condition     = contains(["service", "user"], var.identity_mode)
    error_message = "identity_mode must be \"service\" or \"user\"."
  }
}

variable "oauth_client_id" {
  description = "OAuth 2.0 client id used in identity_mode \"user\" (Google: …apps.googleusercontent.com). Its secret goes into the Secret Manager secret this configuration creates, never into terraform."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]*$", var.oauth_client_id))
    error_message = "oauth_client_id may only hold letters, digits, dots, underscores and hyphens."
  }
}

variable "bigquery_dataset" {
  description = "BigQuery dataset id of the write-back tables (created here)."
  type        = string
  default     = "looker_writeback"

  validation {
    # Not regex("{1,1024}"): RE2 refuses repeat counts above 1000, so can() was always false.
    condition     = length(var.bigquery_dataset) <= 1024 && can(regex("^[A-Za-z0-9_]+$", var.bigquery_dataset))
    error_message = "bigquery_dataset must be letters, digits and underscores only."
  }
}

variable "bigquery_location" {
  description = "Location of the BigQuery dataset (US, EU or a region); it should match the data Looker queries. Empty: the region. It cannot change once the dataset exists (that would replace the dataset and every table in it: refused); scripts/deploy.sh keeps the deployed one when this is empty (deployments made when the default was US)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(US|EU|[a-z]+-[a-z]+[0-9]+)?$", var.bigquery_location))
    error_message = "bigquery_location must be empty, US, EU or a region such as europe-west1."
  }
}

variable "looker_connection_service_account" {
  description = "Email of the service account of Looker's BigQuery connection (the one the generated LookML queries through): granted roles/bigquery.dataViewer on the write-back dataset. It also needs roles/bigquery.jobUser in its billing project (not granted here). Empty: no grant."
  type        = string
  default     = ""

  validation {
    condition     = var.looker_connection_service_account == "" || can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.iam\\.gserviceaccount\\.com$", var.looker_connection_service_account))
    error_message = "looker_connection_service_account must be empty or a service account email (NAME@PROJECT.iam.gserviceaccount.com)."
  }
}

variable "bigquery_writers" {
  description = "IAM members (e.g. group:analysts@example.com) who may append to the write-back tables with their own identity; only used in identity_mode \"user\"."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.bigquery_writers : can(regex("^(user|group|serviceAccount|domain):.+$", m))])
    error_message = "bigquery_writers entries must be IAM members such as group:analysts@example.com."
  }
}

variable "actions_dir" {
  description = "Folder written by `hub generate-actions FILE DIR` for your own actions file (its DIR; scripts/deploy.sh sets it from HUB_ACTIONS_FILE): terraform creates the tables of DIR/terraform/tables.json and every function serves DIR/actions.yaml. Empty: the hub's built-in actions (tables from terraform/schemas/). Keep it set on every later apply: without it terraform would remove your tables (table_deletion_protection refuses)."
  type        = string
  default     = ""

  validation {
    condition     = var.actions_dir == "" || (fileexists("${var.actions_dir}/terraform/tables.json") && fileexists("${var.actions_dir}/actions.yaml"))
    error_message = "actions_dir must be a folder written by `hub generate-actions FILE DIR`: DIR/terraform/tables.json and DIR/actions.yaml are missing."
  }
}

variable "table_deletion_protection" {
  description = "Protect the write-back tables from terraform destroy (they hold business decisions)."
  type        = bool
  default     = true
}

variable "change_only_enabled" {
  description = "Offer \"Send only new or changed rows\" on the query actions: a Cloud Storage bucket keeps what each schedule delivered (HUB_CHANGE_BUCKET), readable and writable by execute alone. Turning it off removes the choice; the bucket is not deleted while it holds memories."
  type        = bool
  default     = true
}

variable "public_base_url" {
  description = "Public base URL of the hub as Looker reaches it (used to build form, execute and OAuth links). Empty: the gateway's own https://…gateway.dev URL, filled in by a second apply (scripts/deploy.sh does it)."
  type        = string
  default     = ""

  validation {
    condition     = var.public_base_url == "" || can(regex("^https://[^/?#]+(/[^?#]*[^/?#])?$", var.public_base_url))
    error_message = "public_base_url must be empty or an https URL without a trailing slash, query or fragment."
  }
}

variable "ingress" {
  description = "Cloud Run ingress. API Gateway reaches Cloud Run from outside any VPC, so with the gateway on it must be INGRESS_TRAFFIC_ALL (refused otherwise): the services stay private by IAM (only the gateway's and Apigee's service accounts may invoke them). INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER only with api_gateway off, behind Apigee reaching the services through an internal load balancer."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY"], var.ingress)
    error_message = "ingress must be one of INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER, INGRESS_TRAFFIC_INTERNAL_ONLY."
  }
}

variable "api_gateway" {
  description = "Create the API Gateway in front of the services. null (default): yes, unless Apigee is the front door (apigee_organization set); a second front door would let callers skip Apigee's quota and spike arrest."
  type        = bool
  default     = null
}

variable "execute_timeout_seconds" {
  description = "Request timeout of the execute service, and the API Gateway deadline for execute (streaming a large query result to a sink can take minutes). At most 3600: Cloud Run's and API Gateway's maximum (docs/operations.md, \"Deadlines\")."
  type        = number
  default     = 900

  validation {
    condition     = var.execute_timeout_seconds >= 60 && var.execute_timeout_seconds <= 3600
    error_message = "execute_timeout_seconds must be between 60 and 3600 (the Cloud Run maximum)."
  }
}

variable "concurrency" {
  description = "Maximum concurrent requests per instance of the list, form and OAuth services."
  type        = number
  default     = 80

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 1000
    error_message = "concurrency must be between 1 and 1000."
  }
}

variable "execute_concurrency" {
  description = "Maximum concurrent executes per instance (Cloud Run concurrency of the execute service): at least 2 x execute_query_executes + 4, so that clicks find a slot while query executes run and wait (docs/operations.md, \"Operating at scale\")."
  type        = number
  default     = 16

  validation {
    condition     = var.execute_concurrency >= 1 && var.execute_concurrency <= 1000
    error_message = "execute_concurrency must be between 1 and 1000."
  }
}

variable "execute_query_executes" {
  description = "Query executes (schedules, whole-query actions) running at once per execute instance (HUB_QUERY_EXECUTES); as many more wait in line for a slot, the rest are answered \"busy, run it again\" at once. Clicks never wait for these slots. Each takes 64 MiB of the memory budget (docs/operations.md, \"Operating at scale\")."
  type        = number
  default     = 4

  validation {
    condition     = var.execute_query_executes >= 1 && var.execute_query_executes <= 100
    error_message = "execute_query_executes must be between 1 and 100."
  }
}

variable "execute_memory_mib" {
  description = "Memory of an execute instance in MiB; the hub's memory budget (HUB_MEMORY_BUDGET_BYTES) is this less 128 MiB for the process, and must hold execute_query_executes x 64 MiB + 64 MiB (docs/operations.md, \"Operating at scale\")."
  type        = number
  default     = 512

  validation {
    # Cloud Run allows at most 4 GiB with 1 CPU.
    condition     = var.execute_memory_mib >= 512 && var.execute_memory_mib <= 4096 && floor(var.execute_memory_mib) == var.execute_memory_mib
    error_message = "execute_memory_mib must be a whole number of MiB between 512 and 4096 (Cloud Run's limit with 1 CPU)."
  }
}

variable "max_instances" {
  description = "Upper bound of instances per service (min instances is always 0: the hub starts in milliseconds)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000
    error_message = "max_instances must be between 1 and 1000."
  }
}

variable "log_level" {
  description = "Log filter of the services (RUST_LOG syntax, e.g. info or info,hub_core=debug)."
  type        = string
  default     = "info"

  validation {
    condition     = can(regex("^[A-Za-z0-9_:=,.-]+$", var.log_level))
    error_message = "log_level must be a RUST_LOG filter such as info or info,hub_core=debug."
  }
}

variable "apigee_organization" {
  description = "Apigee organization (usually the project id) to create target servers and the proxy's service account in. Empty: no Apigee resources."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z][a-z0-9-]{4,28}[a-z0-9])?$", var.apigee_organization))
    error_message = "apigee_organization must be empty or an Apigee organization name (a project id)."
  }
}

variable "apigee_environment" {
  description = "Apigee environment the target servers are created in (required when apigee_organization is set)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z][a-z0-9-]*)?$", var.apigee_environment))
    error_message = "apigee_environment must be an Apigee environment name (lowercase letters, digits, hyphens)."
  }
}

variable "rudder_sources" {
  description = "RudderStack sources the hub may send to (docs/rudderstack.md, \"Several RudderStack sources\"): name (what schedules store: letters, digits, _ and -, at most 64), optional label (what the form shows), optional data_plane_url (else rudder_data_plane_url). Terraform creates one empty secret per source, <name_prefix>-rudder-<name>, for its write key (add the value with gcloud, like the other secrets), readable by the execute service alone. Empty: the RudderStack actions take the write key and data plane URL as action params in Looker, as RudderStack's hosted hub does."
  type = list(object({
    name           = string
    label          = optional(string)
    data_plane_url = optional(string)
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.rudder_sources : can(regex("^[A-Za-z0-9_-]{1,64}$", s.name))])
    error_message = "rudder_sources: each name is 1 to 64 letters, digits, _ or - (schedules store it)."
  }

  validation {
    # The hub compares names ignoring case; the secret ids also write _ as -.
    condition     = length(distinct([for s in var.rudder_sources : replace(lower(s.name), "_", "-")])) == length(var.rudder_sources)
    error_message = "rudder_sources: two sources have the same name (names are compared ignoring case, and _ and - give the same secret id)."
  }

  validation {
    condition     = alltrue([for s in var.rudder_sources : s.data_plane_url == null || can(regex("^https?://[^/?#\\s]+(/[^?#\\s]*)?$", s.data_plane_url))])
    error_message = "rudder_sources: a data_plane_url is an http(s) URL such as https://acme.dataplane.rudderstack.com."
  }

  validation {
    # try(): Terraform before 1.12 evaluates both sides of ||, and length(null) fails.
    condition     = alltrue([for s in var.rudder_sources : try(length(trimspace(s.label)), 0) <= 200])
    error_message = "rudder_sources: a label is at most 200 characters."
  }

  validation {
    # The label the form shows, compared ignoring case as the hub does: the one given, else the
    # name made readable (marketing_eu shows "Marketing eu").
    condition = length(distinct([
      for s in var.rudder_sources : lower(try(trimspace(s.label), "") != "" ? trimspace(s.label) : join(" ", compact(split(" ", replace(replace(s.name, "_", " "), "-", " ")))))
    ])) == length(var.rudder_sources)
    error_message = "rudder_sources: two sources show the same label (its label, or without one its name made readable: marketing_eu shows \"Marketing eu\"); a business user could not tell them apart."
  }

  validation {
    condition     = length(var.rudder_sources) <= 100
    error_message = "rudder_sources: at most 100 sources (the form lists them in one select)."
  }
}

variable "rudder_data_plane_url" {
  description = "Data plane URL of the rudder_sources that name none (RUDDER_DATA_PLANE_URL), e.g. https://acme.dataplane.rudderstack.com."
  type        = string
  default     = ""

  validation {
    condition     = var.rudder_data_plane_url == "" || can(regex("^https?://[^/?#\\s]+(/[^?#\\s]*)?$", var.rudder_data_plane_url))
    error_message = "rudder_data_plane_url must be empty or an http(s) URL such as https://acme.dataplane.rudderstack.com."
  }
}

variable "egress_network" {
  description = "VPC network of egress_subnetwork (a fixed egress IP: docs/deployment.md, \"A fixed egress IP\")."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z]([-a-z0-9]*[a-z0-9])?|projects/[^/]+/global/networks/[^/]+)?$", var.egress_network))
    error_message = "egress_network must be empty, a network name or projects/PROJECT/global/networks/NAME."
  }
}

variable "egress_subnetwork" {
  description = "Subnet (in region) all outbound traffic of the services leaves through (Direct VPC egress, ALL_TRAFFIC); with a Cloud NAT on a static address, Looker sees one fixed IP for download_url and state_url calls. Empty (default): Google's shared egress addresses."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z]([-a-z0-9]*[a-z0-9])?|projects/[^/]+/regions/[^/]+/subnetworks/[^/]+)?$", var.egress_subnetwork))
    error_message = "egress_subnetwork must be empty, a subnet name or projects/PROJECT/regions/REGION/subnetworks/NAME."
  }
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channels the alert policies notify (docs/monitoring.md), as projects/PROJECT/notificationChannels/ID. Empty (default): the policies are still created and open incidents in the console, but notify nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[a-z0-9:.-]+/notificationChannels/[0-9]+$", c))])
    error_message = "notification_channels: each is projects/PROJECT/notificationChannels/ID (gcloud beta monitoring channels list --format='value(name)')."
  }
}

variable "alert_failure_rate" {
  description = "Share of executes that end failed, partial or interrupted, over 10 minutes, above which the failure-rate alert fires (0.05: more than 5 %)."
  type        = number
  default     = 0.05

  validation {
    condition     = var.alert_failure_rate > 0 && var.alert_failure_rate < 1
    error_message = "alert_failure_rate must be a share between 0 and 1 (exclusive), e.g. 0.05 for 5 %."
  }
}

variable "alert_gateway_errors" {
  description = "Responses with status 429 (over quota, or no instance free) or 504 (deadline) from the front door (API Gateway or Apigee) in 5 minutes above which the gateway alert fires; each status counts on its own."
  type        = number
  default     = 5

  validation {
    condition     = var.alert_gateway_errors >= 0 && floor(var.alert_gateway_errors) == var.alert_gateway_errors
    error_message = "alert_gateway_errors must be a whole number of responses (0 or more)."
  }
}
