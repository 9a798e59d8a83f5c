variable "images" {
  description = "Flywheel's images by digest, as `bazel run //infra/images:push_all -- --registry ...` wrote them to images.auto.tfvars.json."
  type = object({
    serving          = string
    user_code        = string
    training_job     = string
    training_job_gpu = string
  })
  validation {
    condition = alltrue([
      for name, ref in var.images : can(regex("^[^@]+/${name}@sha256:[0-9a-f]{64}$", ref))
    ])
    error_message = "Each image must be REGISTRY/<name>@sha256:<digest>, the digest Bazel built (docs/infra.md, Pushing images)."
  }
}

variable "namespace" {
  description = "Namespace of Flywheel's own workloads (Dagster, MLflow, serving)."
  type        = string
  default     = "flywheel"
}

variable "kafka_namespace" {
  description = "Namespace of the Strimzi operator and the Kafka cluster."
  type        = string
  default     = "kafka"
}

variable "monitoring_namespace" {
  description = "Namespace of kube-prometheus-stack and prometheus-adapter."
  type        = string
  default     = "monitoring"
}

variable "postgres_passwords" {
  description = "Passwords of the dagster and mlflow PostgreSQL users (from a secret manager, never committed)."
  type = object({
    dagster = string
    mlflow  = string
  })
  sensitive = true
}

variable "artifact_root" {
  description = "MLflow artifact store: s3://bucket/path, gs://bucket/path or wasbs://..."
  type        = string
}

variable "object_store_secret" {
  description = "Secret (in var.namespace) with object-store credentials as env vars; empty for workload identity."
  type        = string
  default     = ""
}

variable "serving_accelerator" {
  description = "cpu (ONNX Runtime) or gpu (TensorRT engines on the GPU pool)."
  type        = string
  default     = "cpu"
}

variable "serving_replicas" {
  description = "Minimum and maximum serving replicas for the HPA."
  type        = object({ min = number, max = number })
  default     = { min = 2, max = 10 }
}

variable "kafka_replicas" {
  description = "Kafka nodes (controller + broker)."
  type        = number
  default     = 3
}

variable "model_repository_storage_class" {
  description = "ReadWriteMany storage class for the model repository volume."
  type        = string
  default     = "standard-rwx"
}

variable "gpu_node_selector" {
  description = "Node selector of the GPU node pool."
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

variable "chart_versions" {
  description = "Pinned versions of the upstream Helm charts."
  type = object({
    dagster               = string
    strimzi               = string
    kube_prometheus_stack = string
    prometheus_adapter    = string
  })
  default = {
    dagster               = "1.13.27"
    strimzi               = "0.50.0"
    kube_prometheus_stack = "79.5.0"
    prometheus_adapter    = "5.2.0"
  }
}
