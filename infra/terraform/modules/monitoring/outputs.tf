output "stack_values" {
  description = "Helm values of kube-prometheus-stack."
  value       = local.stack_values
}

output "adapter_values" {
  description = "Helm values of prometheus-adapter (serves flywheel_inference_queue_rows to the HPA)."
  value       = local.adapter_values
}

output "manifests" {
  description = "PrometheusRule and dashboard ConfigMaps, keyed by kind/name."
  value = merge(
    { "PrometheusRule/flywheel-rules" = local.rules },
    { for name, cm in local.dashboards : "ConfigMap/${cm.metadata.name}" => cm },
  )
}
