# A thin example for one cloud: a GKE cluster with a CPU pool and a tainted GPU pool, Artifact
# Registry for the images, a GCS bucket for MLflow artifacts, then the Flywheel stack on top.
# Not validated offline (the google provider cannot be built here; see docs/infra.md).

terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.2"
    }
  }
}

variable "project" {
  description = "GCP project."
  type        = string
}

variable "region" {
  description = "GCP region."
  type        = string
  default     = "europe-west4"
}

variable "images" {
  description = "Images by digest (images.auto.tfvars.json from //infra/images:push_all)."
  type = object({
    serving          = string
    user_code        = string
    training_job     = string
    training_job_gpu = string
  })
}

variable "postgres_passwords" {
  description = "Passwords of the dagster and mlflow PostgreSQL users."
  type        = object({ dagster = string, mlflow = string })
  sensitive   = true
}

provider "google" {
  project = var.project
  region  = var.region
}

resource "google_artifact_registry_repository" "images" {
  repository_id = "flywheel"
  format        = "DOCKER"
  location      = var.region
}

resource "google_storage_bucket" "artifacts" {
  name                        = "${var.project}-flywheel-artifacts"
  location                    = var.region
  uniform_bucket_level_access = true
}

resource "google_container_cluster" "this" {
  name                     = "flywheel"
  location                 = var.region
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true
  workload_identity_config {
    workload_pool = "${var.project}.svc.id.goog"
  }
  addons_config {
    gcp_filestore_csi_driver_config {
      enabled = true # the ReadWriteMany model repository (storage class standard-rwx)
    }
  }
}

resource "google_container_node_pool" "cpu" {
  name     = "cpu"
  cluster  = google_container_cluster.this.id
  location = var.region
  autoscaling {
    min_node_count = 1
    max_node_count = 6
  }
  node_config {
    machine_type = "e2-standard-8"
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

resource "google_container_node_pool" "gpu" {
  name     = "gpu"
  cluster  = google_container_cluster.this.id
  location = var.region
  autoscaling {
    min_node_count = 0
    max_node_count = 2
  }
  node_config {
    machine_type = "g2-standard-8"
    guest_accelerator {
      type  = "nvidia-l4"
      count = 1
      gpu_driver_installation_config {
        gpu_driver_version = "LATEST"
      }
    }
    labels = { "nvidia.com/gpu.present" = "true" }
    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }
  }
}

data "google_client_config" "current" {}

provider "kubernetes" {
  host                   = "https://${google_container_cluster.this.endpoint}"
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = base64decode(google_container_cluster.this.master_auth[0].cluster_ca_certificate)
}

provider "helm" {
  kubernetes = {
    host                   = "https://${google_container_cluster.this.endpoint}"
    token                  = data.google_client_config.current.access_token
    cluster_ca_certificate = base64decode(google_container_cluster.this.master_auth[0].cluster_ca_certificate)
  }
}

module "flywheel" {
  source             = "../../terraform/stack"
  images             = var.images
  postgres_passwords = var.postgres_passwords
  artifact_root      = "gs://${google_storage_bucket.artifacts.name}/mlflow"

  depends_on = [google_container_node_pool.cpu, google_container_node_pool.gpu]
}

output "registry" {
  description = "Pass this to //infra/images:push_all as --registry."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}
