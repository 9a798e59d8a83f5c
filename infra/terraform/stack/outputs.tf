output "serving_url" {
  description = "In-cluster Open Inference Protocol endpoint."
  value       = module.serving.url
}

output "mlflow_tracking_uri" {
  description = "In-cluster MLflow tracking URI."
  value       = module.mlflow.tracking_uri
}

output "kafka_bootstrap_servers" {
  description = "In-cluster Kafka bootstrap servers."
  value       = module.kafka.bootstrap_servers
}

output "training_k8s_config" {
  description = "dagster-k8s/config tag for training steps (GPU pool, training-job image)."
  value       = module.dagster.training_k8s_config
}
