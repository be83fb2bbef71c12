#!/usr/bin/env bash
# Build the hub's images, push them to Artifact Registry and `terraform apply`.
# Run `scripts/deploy.sh --help` for the walkthrough; README.md, "Deployment", has more.
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

Options:
  --skip-build       deploy IMAGE_TAG as already pushed (no docker needed)
  --plan             stop after `terraform plan`
  --auto-approve     apply without asking
  -h, --help         this text

Steps:
  1. checks the tools (terraform, gcloud, docker, git) and variables; stops early;
     with HUB_ACTIONS_FILE: `hub check-actions` (every problem listed, then stops),
     `hub generate-actions` into terraform/generated-actions/ (tables, LookML, the
     file to deploy), and terraform's actions_dir points there
  2. terraform apply of the bootstrap resources: APIs, the image repository, the
     (empty) secrets
  3. stops with the commands to run if a secret's newest version is missing,
     not ENABLED or empty (the hub refuses to start on any of these):
       printf %s "$TOKEN" | gcloud secrets versions add NAME --data-file=-
  4. docker build --platform linux/amd64 + push of each function's image
  5. terraform apply of everything; when PUBLIC_BASE_URL is not set, a second
     apply gives the services the gateway's URL
EOF
}

die() { printf 'deploy.sh: %s\n' "$*" >&2; exit 1; }
log() { printf 'deploy.sh: %s\n' "$*" >&2; }

skip_build=0
plan_only=0
approve=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --skip-build) skip_build=1 ;;
    --plan) plan_only=1 ;;
    --auto-approve) approve=-auto-approve ;;
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
if [[ -n "${HUB_ACTIONS_FILE:-}" ]]; then
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
tf_apply() { tf apply -input=false ${approve:+"$approve"} "$@"; }

# --- 2. bootstrap --------------------------------------------------------------
log "terraform init"
tf init -input=false >/dev/null
log "bootstrap: APIs, image repository, empty secrets"
tf_apply \
  -target=google_project_service.apis \
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

# --- 3. secrets have values ----------------------------------------------------
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
nl=$'\n'
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

# --- 4. images -----------------------------------------------------------------
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

# --- 5. apply ------------------------------------------------------------------
if [[ $plan_only -eq 1 ]]; then
  tf plan -input=false
  exit 0
fi
tf_apply
if [[ "$(tf_out public_base_url_pending)" == "true" ]]; then
  TF_VAR_public_base_url="$(tf_out gateway_url)"
  export TF_VAR_public_base_url
  log "second apply: the services learn their public URL $TF_VAR_public_base_url"
  log "(set public_base_url = \"$TF_VAR_public_base_url\" in terraform.tfvars to skip this next time)"
  tf_apply
fi

log "done. In Looker: Admin → Actions → Add Action Hub"
log "  URL:   $(tf_out looker_action_hub_url)"
log "  token: the value of secret $(printf '%s\n' "$secrets" | awk -F'\t' '$1 == "looker_token" { print $2 }')"
redirect_uri="$(tf_out oauth_redirect_uri)"
if [[ -n "$redirect_uri" ]]; then
  log "  OAuth (user identity): the one redirect URI to register with the OAuth client: $redirect_uri"
fi
