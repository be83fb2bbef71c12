terraform {
  required_version = ">= 1.6"

  # The state lives in a versioned Cloud Storage bucket, locked per run (docs/deployment.md, "State");
  # scripts/deploy.sh creates the bucket and passes bucket and prefix to `terraform init`.
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    # API Gateway resources exist only in the beta provider.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.0, < 8.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

provider "google-beta" {
  project = var.project
  region  = var.region
}
