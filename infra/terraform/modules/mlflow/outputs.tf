output "manifests" {
  description = "Deployment and Service, keyed by kind/name."
  value       = { "Deployment/mlflow" = local.deployment, "Service/mlflow" = local.service }
}

output "tracking_uri" {
  description = "In-cluster MLflow tracking URI."
  value       = "http://mlflow.${var.namespace}.svc:5000"
}
