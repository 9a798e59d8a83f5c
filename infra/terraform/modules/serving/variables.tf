variable "name" {
  description = "Name of the Deployment, Service, HPA and PDB."
  type        = string
  default     = "flywheel-serving"
}

variable "namespace" {
  description = "Namespace to deploy into."
  type        = string
}

variable "image" {
  description = "The serving image by digest (REGISTRY/serving@sha256:...), as //infra/images:serving_push pushed it."
  type        = string
  validation {
    condition     = can(regex("^[^@]+/serving(_gpu)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "The serving image must be referenced by digest: REGISTRY/serving@sha256:<64 hex>."
  }
}

variable "port" {
  description = "HTTP port of the Open Inference Protocol server."
  type        = number
  default     = 8000
}

variable "workers" {
  description = "Server worker processes per pod (SO_REUSEPORT)."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "CPU request per pod."
  type        = string
  default     = "2"
}

variable "memory" {
  description = "Memory request and limit per pod."
  type        = string
  default     = "2Gi"
}

variable "min_replicas" {
  description = "Replicas the HPA never goes below (and the Deployment starts with)."
  type        = number
  default     = 2
}

variable "max_replicas" {
  description = "Replicas the HPA never goes above."
  type        = number
  default     = 10
}

variable "target_queue_rows" {
  description = "Average rows waiting in each pod's batcher that the HPA aims for."
  type        = number
  default     = 64
}

variable "min_available" {
  description = "Pods the PodDisruptionBudget keeps up during voluntary disruptions."
  type        = number
  default     = 1
}

variable "accelerator" {
  description = "cpu, or gpu: GPU node selector, tolerations and one nvidia.com/gpu per pod (TensorRT engines)."
  type        = string
  default     = "cpu"
  validation {
    condition     = contains(["cpu", "gpu"], var.accelerator)
    error_message = "accelerator must be cpu or gpu."
  }
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

variable "kafka_bootstrap_servers" {
  description = "Kafka bootstrap servers for the prediction log; empty disables it."
  type        = string
  default     = ""
}

variable "extra_args" {
  description = "Further server flags (python -m serving.server --help)."
  type        = list(string)
  default     = []
}

variable "model_repository_claim" {
  description = "PersistentVolumeClaim holding the model repository (written by the deploy asset, read here)."
  type        = string
  default     = "flywheel-models"
}

variable "model_repository_storage_class" {
  description = "A ReadWriteMany storage class (Filestore, EFS, Azure Files, NFS)."
  type        = string
  default     = "standard-rwx"
}

variable "model_repository_size" {
  description = "Size of the model repository volume."
  type        = string
  default     = "10Gi"
}

variable "prometheus_release" {
  description = "kube-prometheus-stack release name its Prometheus selects ServiceMonitors by."
  type        = string
  default     = "kube-prometheus-stack"
}
