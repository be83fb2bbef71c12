#!/usr/bin/env bash
# Build the hub's images, push them to Artifact Registry and `terraform apply`.
# Run `scripts/deploy.sh --help` for the walkthrough; docs/deployment.md, "Deployment", has more.
set -euo pipefail
# Runs on macOS's bash 3.2 too: no arrays that may be empty ("${a[@]}" fails under
# set -u there), no mapfile, no ${var,,}.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TF_DIR="$ROOT/terraform"
FUNCTIONS=(actions_list action_form action_execute oauth_initiate oauth_callback)

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh [options]

Builds one container image per function (deploy/Dockerfile, --build-arg BIN=…),
pushes them to the Artifact Registry repository terraform creates, and applies
terraform/ (Cloud Run services, service accounts, secrets, BigQuery tables,
API Gateway). Prints the URL to paste into Looker (Admin → Actions → Add Action Hub).

Terraform variables come from terraform/terraform.tfvars or from the environment:
  PROJECT           Google Cloud project id                      (required)
  REGION            region, e.g. europe-west1                    (required)
  LOOKER_HOSTS      comma-separated Looker host names            (required)
  IDENTITY_MODE     service | user                               (default: service)
  OAUTH_CLIENT_ID   OAuth client id, required for IDENTITY_MODE=user
  BIGQUERY_DATASET  write-back dataset                           (default: looker_writeback)
  NAME_PREFIX       resource name prefix                         (default: looker-hub)
  PUBLIC_BASE_URL   public URL of the hub if not the gateway's own
  IMAGE_TAG         image tag to build and deploy                (default: git commit)
  HUB_ACTIONS_FILE  your write-back actions file (YAML)          (default: the built-in actions)
  HUB_BIN           the hub binary for check-actions / generate-actions
                    (default: `cargo run -p hub`; not `hub` on PATH, which may be GitHub's)

  STATE_BUCKET      Cloud Storage bucket of the terraform state  (default: PROJECT-NAME_PREFIX-tfstate;
                    created versioned if missing)
  STATE_PREFIX      folder of the state in the bucket            (default: terraform/NAME_PREFIX)
  ACTIONS_VERSIONS_KEPT  versions of the actions file kept readable for rollbacks (default: 10, at least 5)
  DEPLOY_RETRY_ATTEMPTS / DEPLOY_RETRY_WAIT_SECS
                    applies that fail while a just-enabled API or a just-made IAM grant
                    propagates are retried this often, this far apart (default: 12 x 30 s)

Options:
  --skip-build       deploy IMAGE_TAG as already pushed (no docker needed)
  --plan             stop after `terraform plan` (and its check)
  --auto-approve     apply without asking
  --rollback         route every service back to the revision before the one serving
                     (its pinned actions file version must still be readable); nothing is built
  -h, --help         this text

Steps:
  1. checks the tools (terraform, gcloud, docker, git, python3) and variables; stops early;
     with HUB_ACTIONS_FILE: `hub check-actions` (every problem listed, then stops),
     `hub generate-actions` into terraform/generated-actions/ (tables, LookML, the
     file to deploy), and terraform's actions_dir points there
  2. the terraform state: a versioned Cloud Storage bucket (created if missing; a local
     terraform/terraform.tfstate is moved into it once); terraform locks it per run
  3. terraform apply of the APIs alone, then of the image repository and the (empty)
     secrets: applies that fail while an API or an IAM grant propagates are retried
  4. stops with the commands to run if a secret's newest version is missing,
     not ENABLED or empty (the hub refuses to start on any of these):
       printf %s "$TOKEN" | gcloud secrets versions add NAME --data-file=-
  5. docker build --platform linux/amd64 + push of each function's image
  6. terraform apply of everything; when PUBLIC_BASE_URL is not set, a second
     apply gives the services the gateway's URL; then versions of the actions file
     beyond the ACTIONS_VERSIONS_KEPT newest are destroyed

Every apply is of a saved plan that scripts/plan_guard.py checked first: a plan that would drop
a column of a write-back table, change its type, make it REQUIRED, or delete or replace a
write-back table or the dataset is refused before anything is applied, with what to write
instead. Columns the deployed tables have REQUIRED stay REQUIRED.
EOF
}

die() { printf 'deploy.sh: %s\n' "$*" >&2; exit 1; }
log() { printf 'deploy.sh: %s\n' "$*" >&2; }

skip_build=0
plan_only=0
rollback=0
approve=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --skip-build) skip_build=1 ;;
    --plan) plan_only=1 ;;
    --auto-approve) approve=-auto-approve ;;
    --rollback) rollback=1; skip_build=1 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

# --- 1. tools and variables --------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "missing tool: $1 ($2)"; }
need terraform "https://developer.hashicorp.com/terraform/install"
need gcloud "https://cloud.google.com/sdk/docs/install"
need git "apt-get install git"
need python3 "apt-get install python3"
if [[ $skip_build -eq 0 ]]; then
  need docker "a Docker engine with buildx is needed to build the images (or use --skip-build)"
  docker info >/dev/null 2>&1 || die "docker is installed but no Docker engine answers (start it, or use --skip-build)"
fi

tfvars="$TF_DIR/terraform.tfvars"
# A terraform variable is set by the environment (mapped to TF_VAR_name) or the tfvars file.
tfvar() {
  local name="$1" env="$2" required="$3"
  if [[ -n "${!env:-}" ]]; then
    export "TF_VAR_$name=${!env}"
  elif [[ -n "$(printenv "TF_VAR_$name" || true)" ]]; then
    :
  elif [[ -f "$tfvars" ]] && grep -Eq "^[[:space:]]*${name}[[:space:]]*=" "$tfvars"; then
    :
  elif [[ "$required" == required ]]; then
    die "missing variable: set ${env%_TF} (or $name in terraform/terraform.tfvars)"
  fi
}
tfvar project PROJECT required
tfvar region REGION required
tfvar identity_mode IDENTITY_MODE optional
tfvar oauth_client_id OAUTH_CLIENT_ID optional
tfvar bigquery_dataset BIGQUERY_DATASET optional
tfvar name_prefix NAME_PREFIX optional
tfvar public_base_url PUBLIC_BASE_URL optional
# LOOKER_HOSTS is a comma-separated list; terraform wants a list literal.
if [[ -n "${LOOKER_HOSTS:-}" ]]; then
  # shellcheck disable=SC2034 # read by tfvar through ${!env}
  LOOKER_HOSTS_TF="[$(printf '%s' "$LOOKER_HOSTS" | sed 's/[[:space:]]//g; s/[^,][^,]*/"&"/g')]"
fi
tfvar looker_hosts LOOKER_HOSTS_TF required

# The actions file: checked, then generated into what terraform reads (its tables and the
# copy every service mounts) and the LookML for the Looker project.
if [[ $rollback -eq 0 && -n "${HUB_ACTIONS_FILE:-}" ]]; then
  [[ -f "$HUB_ACTIONS_FILE" ]] || die "HUB_ACTIONS_FILE: no file $HUB_ACTIONS_FILE"
  hub_cmd() {
    if [[ -n "${HUB_BIN:-}" ]]; then
      "$HUB_BIN" "$@"
    else
      need cargo "https://rustup.rs (or set HUB_BIN to a built hub binary)"
      cargo run --quiet --locked --manifest-path "$ROOT/Cargo.toml" -p hub -- "$@"
    fi
  }
  log "hub check-actions $HUB_ACTIONS_FILE"
  hub_cmd check-actions "$HUB_ACTIONS_FILE" >&2 || die "$HUB_ACTIONS_FILE has problems (listed above); fix them and run again"
  actions_dir="$TF_DIR/generated-actions"
  # Regenerated whole: nothing of an earlier file (a removed table's view) stays behind.
  rm -rf "$actions_dir"
  hub_cmd generate-actions "$HUB_ACTIONS_FILE" "$actions_dir" >/dev/null || die "hub generate-actions failed (see above)"
  size="$(wc -c <"$actions_dir/actions.yaml" | tr -d '[:space:]')"
  [[ "$size" -le 65536 ]] || die "$HUB_ACTIONS_FILE is $size bytes with its icons inlined; Secret Manager (which Cloud Run mounts it from) holds at most 65536: use smaller icons"
  export TF_VAR_actions_dir="$actions_dir"
  log "actions: tables from $actions_dir/terraform/tables.json; LookML for your Looker project in $actions_dir/lookml/"
fi

if [[ -z "${IMAGE_TAG:-}" ]]; then
  IMAGE_TAG="$(git -C "$ROOT" rev-parse --short=12 HEAD)"
  if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]]; then
    IMAGE_TAG="$IMAGE_TAG-dirty-$(date +%Y%m%d%H%M%S)"
  fi
fi
export TF_VAR_image_tag="$IMAGE_TAG"

tf() { terraform -chdir="$TF_DIR" "$@"; }
tf_out() { tf output -raw "$1"; }

# The value of a terraform variable as terraform will see it: the environment, else a plain
# `name = "value"` line of terraform.tfvars (empty when neither sets it).
tfvar_value() {
  local v
  v="$(printenv "TF_VAR_$1" || true)"
  if [[ -z "$v" && -f "$tfvars" ]]; then
    v="$(sed -nE "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/p" "$tfvars" | tail -1)"
  fi
  printf '%s' "$v"
}

work="$(mktemp -d "${TMPDIR:-/tmp}/deploy.XXXXXX")"
trap 'rm -rf "$work"' EXIT
nl=$'\n'

# --- 2. state: a versioned Cloud Storage bucket ----------------------------------
# Several people (or CI) deploy the same hub: the state lives in Cloud Storage, where the gcs
# backend locks it for the length of each run, and every earlier state stays as an object
# version (a bad apply can be undone from it).
state_project="$(tfvar_value project)"
state_region="$(tfvar_value region)"
deployment="$(tfvar_value name_prefix)"
[[ -n "$state_project" && -n "$state_region" ]] || die "project and region must be plain strings (PROJECT / REGION, or project = \"…\" in terraform.tfvars)"
STATE_BUCKET="${STATE_BUCKET:-$state_project-${deployment:-looker-hub}-tfstate}"
STATE_PREFIX="${STATE_PREFIX:-terraform/${deployment:-looker-hub}}"
if ! gcloud storage buckets describe "gs://$STATE_BUCKET" --project "$state_project" --format='value(name)' >/dev/null 2>&1; then
  log "state: creating gs://$STATE_BUCKET in $state_region (versioned, uniform access, public access prevented)"
  gcloud services enable storage.googleapis.com --project "$state_project" >/dev/null || die "cannot enable the Cloud Storage API in $state_project (see above)"
  gcloud storage buckets create "gs://$STATE_BUCKET" --project "$state_project" --location "$state_region" \
    --uniform-bucket-level-access --public-access-prevention >/dev/null \
    || die "cannot create the state bucket gs://$STATE_BUCKET (see above; set STATE_BUCKET to a bucket you may use)"
fi
if [[ "$(gcloud storage buckets describe "gs://$STATE_BUCKET" --project "$state_project" --format='value(versioning_enabled)')" != True ]]; then
  log "state: turning on object versioning of gs://$STATE_BUCKET (every earlier state is kept)"
  gcloud storage buckets update "gs://$STATE_BUCKET" --project "$state_project" --versioning >/dev/null || die "cannot turn on versioning of gs://$STATE_BUCKET"
fi
log "terraform init (state: gs://$STATE_BUCKET/$STATE_PREFIX)"
local_state="$TF_DIR/terraform.tfstate"
if [[ -s "$local_state" ]]; then
  # Deployed before the state moved to Cloud Storage: copied there once, never over another state.
  if gcloud storage ls "gs://$STATE_BUCKET/$STATE_PREFIX/default.tfstate" >/dev/null 2>&1; then
    die "both terraform/terraform.tfstate and gs://$STATE_BUCKET/$STATE_PREFIX/default.tfstate exist: keep the right one (move the other away) and run again"
  fi
  log "state: moving terraform/terraform.tfstate into the bucket (the local file is kept as terraform.tfstate.moved-to-gcs)"
  tf init -input=false -backend-config="bucket=$STATE_BUCKET" -backend-config="prefix=$STATE_PREFIX" -migrate-state -force-copy >/dev/null \
    || die "terraform init could not move the state into gs://$STATE_BUCKET (see above)"
  mv "$local_state" "$local_state.moved-to-gcs"
else
  tf init -input=false -reconfigure -backend-config="bucket=$STATE_BUCKET" -backend-config="prefix=$STATE_PREFIX" >/dev/null \
    || die "terraform init failed (see above)"
fi

# --- rollback ---------------------------------------------------------------------
# Every service goes back to the revision before the one serving, all or none: they serve one
# actions file. Such a revision mounts the version of the actions file it was deployed with;
# deploy.sh keeps the ACTIONS_VERSIONS_KEPT newest readable (terraform abandons replaced
# versions instead of destroying them), and checks it before moving any traffic.
if [[ $rollback -eq 1 ]]; then
  services="$(tf output -json services)" || die "terraform output services failed: nothing deployed yet?"
  service_field() { printf '%s' "$services" | python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(" ".join(sorted(v.values())) if isinstance(v, dict) else v)' "$1"; }
  region="$(service_field region)"
  project="$(service_field project)"
  targets=""
  for svc in $(service_field names); do
    serving="$(gcloud run services describe "$svc" --region "$region" --project "$project" --format='value(status.traffic[0].revisionName)')" \
      || die "cannot read the service $svc"
    previous="$(gcloud run revisions list --service "$svc" --region "$region" --project "$project" --sort-by='~metadata.creationTimestamp' --format='value(metadata.name)' \
      | awk -v s="$serving" 'found { print; exit } $0 == s { found = 1 }')"
    [[ -n "$previous" ]] || die "$svc: no revision before $serving to roll back to; nothing changed"
    pinned="$(gcloud run revisions describe "$previous" --region "$region" --project "$project" --format='value(spec.volumes[0].secret.secretName,spec.volumes[0].secret.items[0].key)')"
    if [[ -n "$pinned" ]]; then
      read -r secret version <<<"$pinned"
      state="$(gcloud secrets versions describe "$version" --secret "$secret" --project "$project" --format='value(state)' 2>/dev/null || true)"
      [[ "$state" == ENABLED ]] || die "$svc: $previous mounts version $version of $secret, which is ${state:-gone}: it cannot start; nothing changed (deploy the earlier actions file instead)"
    fi
    targets="$targets$svc $previous$nl"
  done
  while read -r svc previous; do
    [[ -z "$svc" ]] && continue
    log "rollback: $svc -> $previous"
    gcloud run services update-traffic "$svc" --region "$region" --project "$project" --to-revisions "$previous=100" >/dev/null \
      || die "$svc: update-traffic failed (the services before it were rolled back: run --rollback again, or deploy)"
  done <<TARGETS
$targets
TARGETS
  log "rolled back every service one revision. The next scripts/deploy.sh run routes them to the revision it deploys."
  exit 0
fi

# --- guarded applies --------------------------------------------------------------
# Every apply is of a plan saved and checked first (scripts/plan_guard.py): nothing that drops
# a column, retypes or tightens it, or deletes or replaces a write-back table or the dataset is
# ever applied. Columns the deployed tables hold REQUIRED stay so in the generated schemas.
guard() { python3 "$ROOT/scripts/plan_guard.py" "$@"; }

# Exit status: 0 applied (or nothing to do), 1 failed, 3 refused by the guard, 4 not confirmed.
guarded_apply() {
  local rc=0
  tf plan -input=false -detailed-exitcode -out="$work/tfplan" "$@" || rc=$?
  if [[ $rc -eq 0 ]]; then
    return 0
  elif [[ $rc -ne 2 ]]; then
    return 1
  fi
  tf show -json "$work/tfplan" >"$work/tfplan.json" || return 1
  guard check "$work/tfplan.json" || return 3
  if [[ $stop_after_plan -eq 1 ]]; then
    return 0
  fi
  if [[ -z "$approve" ]]; then
    printf 'deploy.sh: apply the plan above? Only "yes" applies: ' >&2
    local answer=""
    read -r answer </dev/tty || true
    [[ "$answer" == yes ]] || return 4
  fi
  tf apply -input=false "$work/tfplan"
}

# Errors that heal by themselves within minutes on a new project: an API enabled moments ago,
# an IAM grant (Secret Manager, BigQuery, Cloud Run's check of a mounted secret) not yet
# everywhere, a service account just created. Google documents up to ~7 minutes for IAM.
TRANSIENT='SERVICE_DISABLED|has not been used in project|it is disabled|accessNotConfigured|Permission denied on secret|Permission .* denied on resource|is not ready and cannot serve traffic|failed the configured startup probe|failed to start and listen|Service account .* does not exist|Error 409: .*(operation|concurrent)|Error 429'
RETRY_ATTEMPTS="${DEPLOY_RETRY_ATTEMPTS:-12}"
RETRY_WAIT="${DEPLOY_RETRY_WAIT_SECS:-30}"

# guarded_apply, retried (bounded, with progress) while it fails on a TRANSIENT error.
apply() {
  local what="$1" attempt=1 rc cause
  shift
  while :; do
    log "$what"
    set +e
    guarded_apply "$@" 2>&1 | tee "$work/apply.out" >&2
    rc="${PIPESTATUS[0]}"
    set -e
    case "$rc" in
      0) return 0 ;;
      3) die "$what: refused before anything was applied (above): the deployed write-back tables keep every column and row" ;;
      4) die "$what: not applied (answer \"yes\", or pass --auto-approve)" ;;
    esac
    cause="$(grep -Eo "$TRANSIENT" "$work/apply.out" | head -1 || true)"
    if [[ -z "$cause" ]]; then
      die "$what failed (see above)"
    elif [[ $attempt -ge $RETRY_ATTEMPTS ]]; then
      die "$what: still failing after $attempt attempts ($cause); check the deployer's roles (docs/deployment.md, \"Who may deploy\") and run again"
    fi
    log "$what: attempt $attempt of $RETRY_ATTEMPTS failed on \"$cause\": an API or IAM grant made moments ago takes minutes to reach every Google service; again in ${RETRY_WAIT} s"
    sleep "$RETRY_WAIT"
    attempt=$((attempt + 1))
  done
}

# What is deployed decides two things. A dataset's location cannot change (the provider would
# replace it, tables and rows): without bigquery_location, keep the deployed one (deployments
# made when the default was US). And columns the deployed tables have REQUIRED stay REQUIRED.
tf show -json >"$work/state.json" || die "terraform show failed (see above)"
if [[ -n "$(printenv TF_VAR_actions_dir || true)" ]]; then
  guard keep-modes "$work/state.json" "$TF_VAR_actions_dir/terraform" || die "cannot compare the generated schemas with the deployed tables (see above)"
fi
if [[ -z "$(tfvar_value bigquery_location)" ]]; then
  deployed_location="$(guard deployed-location "$work/state.json")"
  if [[ -n "$deployed_location" ]]; then
    export TF_VAR_bigquery_location="$deployed_location"
  fi
fi

stop_after_plan=0

# --- 3. bootstrap ------------------------------------------------------------------
apply "bootstrap: the APIs" -target=google_project_service.apis
apply "bootstrap: image repository, empty secrets" \
  -target=google_artifact_registry_repository.images \
  -target=google_secret_manager_secret.hub

# A targeted apply writes only the outputs that depend on targeted resources: read
# the one output built for this step (terraform/outputs.tf, "bootstrap"), nothing else.
bootstrap="$(tf output -json bootstrap)" || die "terraform output bootstrap failed (see above)"
bootstrap_field() { printf '%s' "$bootstrap" | python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print("\n".join(f"{k}\t{x}" for k, x in sorted(v.items())) if isinstance(v, dict) else v)' "$1"; }
project="$(bootstrap_field project)"
repo="$(bootstrap_field image_repository)"
secrets="$(bootstrap_field secrets)"
[[ -n "$project" && -n "$repo" && -n "$secrets" ]] || die "terraform output bootstrap is incomplete: $bootstrap"
# Once a gateway exists, keep the services on its URL from the first apply on.
if [[ -z "$(printenv TF_VAR_public_base_url || true)" ]] && ! grep -Eq '^[[:space:]]*public_base_url[[:space:]]*=' "$tfvars" 2>/dev/null; then
  if gateway_url="$(tf_out gateway_url 2>/dev/null)" && [[ "$gateway_url" == https://* ]]; then
    export TF_VAR_public_base_url="$gateway_url"
  fi
fi

# --- 4. secrets have values ----------------------------------------------------
# The hub reads "latest" of each secret at start and refuses to start when it is
# missing, not ENABLED or empty: check exactly that. The value only passes through
# a pipe into wc (never printed, never stored).
secret_problem() {
  local id="$1" state n
  if ! state="$(gcloud secrets versions describe latest --secret "$id" --project "$project" --format='value(state)' 2>/dev/null)"; then
    echo "has no version"
    return
  fi
  if [[ "$state" != ENABLED ]]; then
    echo "newest version is $state, not ENABLED"
    return
  fi
  if ! n="$(gcloud secrets versions access latest --secret "$id" --project "$project" 2>/dev/null | tr -d '[:space:]' | wc -c)"; then
    echo "newest version cannot be read"
    return
  fi
  if [[ "${n//[[:space:]]/}" -eq 0 ]]; then
    echo "newest version is empty"
  fi
}
missing=""
tab=$'\t'
while IFS=$'\t' read -r _ secret_id; do
  [[ -z "$secret_id" ]] && continue
  why="$(secret_problem "$secret_id")"
  if [[ -n "$why" ]]; then
    missing="$missing$secret_id$tab$why$nl"
  fi
done <<EOF
$secrets
EOF
if [[ -n "$missing" ]]; then
  log "these secrets need a value; add one (values never pass through terraform), then run again:"
  while IFS=$'\t' read -r s why; do
    [[ -z "$s" ]] && continue
    printf '  # %s: %s\n' "$s" "$why" >&2
    # shellcheck disable=SC2016 # $VALUE is for the reader's shell
    printf '  printf %%s "$VALUE" | gcloud secrets versions add %s --project %s --data-file=-\n' "$s" "$project" >&2
  done <<EOF
$missing
EOF
  exit 2
fi

# --- 5. images -----------------------------------------------------------------
if [[ $skip_build -eq 0 ]]; then
  gcloud auth configure-docker "${repo%%/*}" --quiet >/dev/null
  for bin in "${FUNCTIONS[@]}"; do
    image="$repo/$bin:$IMAGE_TAG"
    log "build $image"
    # Cloud Run runs linux/amd64 images; Apple Silicon would build arm64 by default.
    docker build --platform linux/amd64 -f "$ROOT/deploy/Dockerfile" --build-arg "BIN=$bin" -t "$image" "$ROOT"
    docker push "$image"
  done
fi

# --- 6. apply ------------------------------------------------------------------
if [[ $plan_only -eq 1 ]]; then
  stop_after_plan=1
  apply "terraform plan (checked, not applied)"
  exit 0
fi
apply "apply"
if [[ "$(tf_out public_base_url_pending)" == "true" ]]; then
  TF_VAR_public_base_url="$(tf_out gateway_url)"
  export TF_VAR_public_base_url
  log "(set public_base_url = \"$TF_VAR_public_base_url\" in terraform.tfvars to skip this next time)"
  apply "second apply: the services learn their public URL $TF_VAR_public_base_url"
fi

# Replaced versions of the actions file are abandoned by terraform, not destroyed: the revisions
# that mount them can still start (a rollback). Keep the newest ACTIONS_VERSIONS_KEPT readable.
actions_secret="$(tf_out actions_secret)"
if [[ -n "$actions_secret" ]]; then
  keep="${ACTIONS_VERSIONS_KEPT:-10}"
  [[ "$keep" =~ ^[0-9]+$ && "$keep" -ge 5 ]] || die "ACTIONS_VERSIONS_KEPT must be a number of at least 5 (rollbacks need the recent versions)"
  n=0
  for name in $(gcloud secrets versions list "$actions_secret" --project "$project" --filter='state:ENABLED' --sort-by='~createTime' --format='value(name)'); do
    n=$((n + 1))
    [[ $n -le $keep ]] && continue
    log "actions file: destroying version ${name##*/} of $actions_secret (the $keep newest stay readable for rollbacks)"
    gcloud secrets versions destroy "${name##*/}" --secret "$actions_secret" --project "$project" --quiet >/dev/null \
      || log "actions file: could not destroy version ${name##*/} (it stays readable; nothing else changes)"
  done
fi

log "done. In Looker: Admin → Actions → Add Action Hub"
log "  URL:   $(tf_out looker_action_hub_url)"
log "  token: the value of secret $(printf '%s\n' "$secrets" | awk -F'\t' '$1 == "looker_token" { print $2 }')"
redirect_uri="$(tf_out oauth_redirect_uri)"
if [[ -n "$redirect_uri" ]]; then
  log "  OAuth (user identity): the one redirect URI to register with the OAuth client: $redirect_uri"
fi
