variable "kubeconfig" {
  description = "Path of the kubeconfig for the target cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "Context in that kubeconfig; null for its current context."
  type        = string
  default     = null
}

variable "images" {
  description = "Flywheel's images by digest (images.auto.tfvars.json, written by //infra/images:push_all)."
  type = object({
    serving          = string
    user_code        = string
    training_job     = string
    training_job_gpu = string
  })
}

variable "postgres_passwords" {
  description = "Passwords of the dagster and mlflow PostgreSQL users (TF_VAR_postgres_passwords)."
  type = object({
    dagster = string
    mlflow  = string
  })
  sensitive = true
}

variable "artifact_root" {
  description = "MLflow artifact store (s3://, gs://, wasbs://)."
  type        = string
}

variable "object_store_secret" {
  description = "Secret with object-store credentials as env vars; empty for workload identity."
  type        = string
  default     = ""
}

variable "serving_accelerator" {
  description = "cpu or gpu."
  type        = string
  default     = "cpu"
}

variable "namespace" {
  description = "Namespace of Flywheel's workloads."
  type        = string
  default     = "flywheel"
}

variable "kafka_namespace" {
  description = "Namespace of Kafka."
  type        = string
  default     = "kafka"
}

variable "monitoring_namespace" {
  description = "Namespace of the monitoring stack."
  type        = string
  default     = "monitoring"
}
