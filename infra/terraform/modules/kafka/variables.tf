variable "namespace" {
  description = "Namespace of the Kafka cluster (and the one the operator watches)."
  type        = string
}

variable "cluster_name" {
  description = "Name of the Kafka resource; bootstrap is <name>-kafka-bootstrap."
  type        = string
  default     = "flywheel"
}

variable "replicas" {
  description = "Nodes of the dual-role (controller + broker) node pool."
  type        = number
  default     = 3
}

variable "kafka_version" {
  description = "Kafka version the Strimzi operator runs."
  type        = string
  default     = "4.1.0"
}

variable "metadata_version" {
  description = "KRaft metadata version."
  type        = string
  default     = "4.1-IV1"
}

variable "storage_size" {
  description = "Persistent volume size per node."
  type        = string
  default     = "50Gi"
}

variable "cpu" {
  description = "CPU request per Kafka node."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory request and limit per Kafka node."
  type        = string
  default     = "4Gi"
}

variable "topics" {
  description = "Topics to create: transactions in, predictions out, late labels back."
  type = map(object({
    partitions   = number
    retention_ms = number
  }))
  default = {
    "transactions" = { partitions = 12, retention_ms = 604800000 }
    "predictions"  = { partitions = 12, retention_ms = 2592000000 }
    "labels"       = { partitions = 6, retention_ms = 15552000000 }
  }
}
