output "manifests" {
  description = "Kubernetes objects of the serving tier, keyed by kind/name."
  value = {
    "PersistentVolumeClaim/${var.model_repository_claim}" = local.model_repository
    "Deployment/${var.name}"                              = local.deployment
    "Service/${var.name}"                                 = local.service
    "HorizontalPodAutoscaler/${var.name}"                 = local.autoscaler
    "PodDisruptionBudget/${var.name}"                     = local.disruption_budget
    "ServiceMonitor/${var.name}"                          = local.service_monitor
  }
}

output "url" {
  description = "In-cluster URL of the Open Inference Protocol endpoint."
  value       = "http://${var.name}.${var.namespace}.svc:${var.port}"
}
