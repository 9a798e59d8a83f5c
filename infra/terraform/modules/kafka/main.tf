# Kafka on Kubernetes through the Strimzi operator (pure: values and custom resources, no provider).
# KRaft mode: one KafkaNodePool with the controller and broker roles; topics as KafkaTopic resources.

locals {
  labels = { "app.kubernetes.io/part-of" = "flywheel", "app.kubernetes.io/managed-by" = "terraform" }

  # Helm values of the strimzi-kafka-operator chart.
  operator_values = {
    watchNamespaces = [var.namespace]
    resources = {
      requests = { cpu = "200m", memory = "384Mi" }
      limits   = { memory = "384Mi" }
    }
  }

  node_pool = {
    apiVersion = "kafka.strimzi.io/v1"
    kind       = "KafkaNodePool"
    metadata = {
      name      = "${var.cluster_name}-dual"
      namespace = var.namespace
      labels    = merge(local.labels, { "strimzi.io/cluster" = var.cluster_name })
    }
    spec = {
      replicas = var.replicas
      roles    = ["controller", "broker"]
      storage = {
        type = "jbod"
        volumes = [{
          id            = 0
          type          = "persistent-claim"
          size          = var.storage_size
          deleteClaim   = false
          kraftMetadata = "shared"
        }]
      }
      resources = {
        requests = { cpu = var.cpu, memory = var.memory }
        limits   = { memory = var.memory }
      }
    }
  }

  kafka = {
    apiVersion = "kafka.strimzi.io/v1"
    kind       = "Kafka"
    metadata   = { name = var.cluster_name, namespace = var.namespace, labels = local.labels }
    spec = {
      kafka = {
        version         = var.kafka_version
        metadataVersion = var.metadata_version
        listeners = [
          { name = "plain", port = 9092, type = "internal", tls = false },
          { name = "tls", port = 9093, type = "internal", tls = true },
        ]
        config = {
          "offsets.topic.replication.factor"         = min(var.replicas, 3)
          "transaction.state.log.replication.factor" = min(var.replicas, 3)
          "transaction.state.log.min.isr"            = min(var.replicas, 2)
          "default.replication.factor"               = min(var.replicas, 3)
          "min.insync.replicas"                      = min(var.replicas, 2)
        }
      }
      entityOperator = { topicOperator = {}, userOperator = {} }
    }
  }

  topics = {
    for name, topic in var.topics : name => {
      apiVersion = "kafka.strimzi.io/v1"
      kind       = "KafkaTopic"
      metadata = {
        name      = name
        namespace = var.namespace
        labels    = merge(local.labels, { "strimzi.io/cluster" = var.cluster_name })
      }
      spec = {
        partitions = topic.partitions
        replicas   = min(var.replicas, 3)
        config     = { "retention.ms" = topic.retention_ms, "cleanup.policy" = "delete" }
      }
    }
  }
}
