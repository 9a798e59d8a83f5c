variable "namespace" {
  description = "Namespace of the monitoring stack."
  type        = string
}

variable "release" {
  description = "Helm release name of kube-prometheus-stack (its Prometheus service is <release>-prometheus)."
  type        = string
  default     = "kube-prometheus-stack"
}

variable "retention" {
  description = "Prometheus retention."
  type        = string
  default     = "15d"
}

variable "storage_size" {
  description = "Prometheus volume size."
  type        = string
  default     = "50Gi"
}

variable "rules_file" {
  description = "Prometheus rules file (groups:) deployed as one PrometheusRule: monitoring/prometheus/flywheel_rules.yml."
  type        = string
}

variable "dashboards_dir" {
  description = "Folder of Grafana dashboard JSON files, one ConfigMap each: monitoring/grafana."
  type        = string
}
