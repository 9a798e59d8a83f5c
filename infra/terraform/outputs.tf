output "serving_url" {
  description = "In-cluster Open Inference Protocol endpoint."
  value       = module.stack.serving_url
}

output "mlflow_tracking_uri" {
  description = "In-cluster MLflow tracking URI."
  value       = module.stack.mlflow_tracking_uri
}
