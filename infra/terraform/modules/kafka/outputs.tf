output "operator_values" {
  description = "Helm values of the strimzi-kafka-operator chart."
  value       = local.operator_values
}

output "manifests" {
  description = "Kafka, KafkaNodePool and KafkaTopic resources, keyed by kind/name."
  value = merge(
    { "KafkaNodePool/${local.node_pool.metadata.name}" = local.node_pool, "Kafka/${var.cluster_name}" = local.kafka },
    { for name, topic in local.topics : "KafkaTopic/${name}" => topic },
  )
}

output "bootstrap_servers" {
  description = "Plain-text in-cluster bootstrap address."
  value       = "${var.cluster_name}-kafka-bootstrap.${var.namespace}.svc:9092"
}
