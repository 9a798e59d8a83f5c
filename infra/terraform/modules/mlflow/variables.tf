variable "namespace" {
  description = "Namespace to deploy into."
  type        = string
}

variable "image" {
  description = "The user-code image by digest (it carries mlflow from the lock)."
  type        = string
}

variable "replicas" {
  description = "Tracking server replicas."
  type        = number
  default     = 1
}

variable "workers" {
  description = "Server workers per replica."
  type        = number
  default     = 2
}

variable "database_host" {
  description = "PostgreSQL host of the backend store."
  type        = string
}

variable "database_name" {
  description = "Backend store database."
  type        = string
  default     = "mlflow"
}

variable "database_user" {
  description = "Backend store user."
  type        = string
  default     = "mlflow"
}

variable "database_secret" {
  description = "Secret with key postgresql-password for that user."
  type        = string
}

variable "artifact_root" {
  description = "Object storage for artifacts, e.g. s3://bucket/mlflow or gs://bucket/mlflow."
  type        = string
  validation {
    condition     = can(regex("^(s3|gs|wasbs)://", var.artifact_root))
    error_message = "artifact_root must be object storage: s3://, gs:// or wasbs://."
  }
}

variable "s3_endpoint_url" {
  description = "S3-compatible endpoint (MinIO, Ceph); empty for AWS S3 or GCS."
  type        = string
  default     = ""
}

variable "object_store_secret" {
  description = "Secret with object-store credentials as env vars (AWS_ACCESS_KEY_ID, ...); empty to use workload identity."
  type        = string
  default     = ""
}

variable "service_account" {
  description = "Service account (bind it to cloud IAM for workload identity)."
  type        = string
  default     = "default"
}
