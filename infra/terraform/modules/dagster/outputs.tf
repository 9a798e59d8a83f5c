output "values" {
  description = "Helm values of the dagster chart."
  value       = local.values
}

output "training_k8s_config" {
  description = "The dagster-k8s/config tag for training steps (GPU pool, training-job image)."
  value       = local.training_k8s_config
}
