variable "namespace" {
  description = "Namespace of Dagster and of the run Jobs it launches."
  type        = string
}

variable "user_code_image" {
  description = "The user-code image by digest (REGISTRY/user_code@sha256:...)."
  type        = string
  validation {
    condition     = can(regex("^[^@]+/user_code@sha256:[0-9a-f]{64}$", var.user_code_image))
    error_message = "user_code_image must be referenced by digest: REGISTRY/user_code@sha256:<64 hex>."
  }
}

variable "training_job_image" {
  description = "The GPU training-job image by digest, for training steps' dagster-k8s/config."
  type        = string
}

variable "postgres_host" {
  description = "PostgreSQL host for Dagster's storage."
  type        = string
}

variable "postgres_secret" {
  description = "Secret with key postgresql-password for user dagster."
  type        = string
  default     = "dagster-postgresql-secret"
}

variable "mlflow_tracking_uri" {
  description = "MLflow tracking URI the assets log to."
  type        = string
}

variable "kafka_bootstrap_servers" {
  description = "Kafka bootstrap servers the ingestion and feedback assets use."
  type        = string
}

variable "model_repository_claim" {
  description = "PVC of the served model repository (the deploy asset writes new versions to it)."
  type        = string
  default     = "flywheel-models"
}

variable "env_secrets" {
  description = "Secrets exposed as environment to the code server and every run (object-store credentials)."
  type        = list(string)
  default     = []
}

variable "extra_env" {
  description = "More environment for the code server and runs."
  type        = map(string)
  default     = {}
}

variable "gpu_node_selector" {
  description = "Node selector of the GPU node pool (training steps)."
  type        = map(string)
  default     = { "nvidia.com/gpu.present" = "true" }
}

variable "gpu_tolerations" {
  description = "Tolerations for the GPU node pool's taints."
  type = list(object({
    key      = string
    operator = string
    value    = optional(string)
    effect   = string
  }))
  default = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]
}
