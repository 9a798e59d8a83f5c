# The whole Flywheel stack on any Kubernetes cluster: namespaces, PostgreSQL, Kafka (Strimzi),
# MLflow, Dagster (official chart, K8sRunLauncher), kube-prometheus-stack with our rules and
# dashboards, prometheus-adapter, and the serving tier. Providers are configured by the caller
# (infra/terraform for a kubeconfig, infra/examples/gke for a new GKE cluster).
#
# First install on an empty cluster: apply `-target=helm_release.operators` first, so that the
# Strimzi and prometheus-operator CRDs exist before the custom resources are planned (docs/infra.md).

locals {
  repo_root = abspath("${path.module}/../../..")
}

resource "kubernetes_namespace_v1" "this" {
  for_each = toset([var.namespace, var.kafka_namespace, var.monitoring_namespace])
  metadata {
    name   = each.key
    labels = { "app.kubernetes.io/part-of" = "flywheel" }
  }
}

resource "kubernetes_secret_v1" "postgres" {
  for_each = { dagster = "dagster-postgresql-secret", mlflow = "mlflow-postgresql-secret" }
  metadata {
    name      = each.value
    namespace = var.namespace
  }
  data = { "postgresql-password" = var.postgres_passwords[each.key] }

  depends_on = [kubernetes_namespace_v1.this]
}

module "postgres_dagster" {
  source          = "../modules/postgres"
  name            = "dagster-postgresql"
  namespace       = var.namespace
  database        = "dagster"
  user            = "dagster"
  password_secret = "dagster-postgresql-secret"
}

module "postgres_mlflow" {
  source          = "../modules/postgres"
  name            = "mlflow-postgresql"
  namespace       = var.namespace
  database        = "mlflow"
  user            = "mlflow"
  password_secret = "mlflow-postgresql-secret"
}

module "kafka" {
  source    = "../modules/kafka"
  namespace = var.kafka_namespace
  replicas  = var.kafka_replicas
}

module "monitoring" {
  source         = "../modules/monitoring"
  namespace      = var.monitoring_namespace
  rules_file     = "${local.repo_root}/monitoring/prometheus/flywheel_rules.yml"
  dashboards_dir = "${local.repo_root}/monitoring/grafana"
}

module "mlflow" {
  source              = "../modules/mlflow"
  namespace           = var.namespace
  image               = var.images.user_code
  database_host       = module.postgres_mlflow.host
  database_secret     = "mlflow-postgresql-secret"
  artifact_root       = var.artifact_root
  object_store_secret = var.object_store_secret
}

module "serving" {
  source                         = "../modules/serving"
  namespace                      = var.namespace
  image                          = var.images.serving
  accelerator                    = var.serving_accelerator
  min_replicas                   = var.serving_replicas.min
  max_replicas                   = var.serving_replicas.max
  kafka_bootstrap_servers        = module.kafka.bootstrap_servers
  model_repository_storage_class = var.model_repository_storage_class
  gpu_node_selector              = var.gpu_node_selector
  gpu_tolerations                = var.gpu_tolerations
}

module "dagster" {
  source                  = "../modules/dagster"
  namespace               = var.namespace
  user_code_image         = var.images.user_code
  training_job_image      = var.images.training_job_gpu
  postgres_host           = module.postgres_dagster.host
  mlflow_tracking_uri     = module.mlflow.tracking_uri
  kafka_bootstrap_servers = module.kafka.bootstrap_servers
  env_secrets             = var.object_store_secret == "" ? [] : [var.object_store_secret]
  gpu_node_selector       = var.gpu_node_selector
  gpu_tolerations         = var.gpu_tolerations
}

# Operators first: their CRDs must exist before Kafka and PrometheusRule objects are planned.
resource "helm_release" "operators" {
  for_each = {
    strimzi = {
      repository = "https://strimzi.io/charts/"
      chart      = "strimzi-kafka-operator"
      version    = var.chart_versions.strimzi
      namespace  = var.kafka_namespace
      values     = module.kafka.operator_values
    }
    kube-prometheus-stack = {
      repository = "https://prometheus-community.github.io/helm-charts"
      chart      = "kube-prometheus-stack"
      version    = var.chart_versions.kube_prometheus_stack
      namespace  = var.monitoring_namespace
      values     = module.monitoring.stack_values
    }
  }
  name       = each.key
  repository = each.value.repository
  chart      = each.value.chart
  version    = each.value.version
  namespace  = each.value.namespace
  values     = [yamlencode(each.value.values)]
  wait       = true

  depends_on = [kubernetes_namespace_v1.this]
}

resource "helm_release" "prometheus_adapter" {
  name       = "prometheus-adapter"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus-adapter"
  version    = var.chart_versions.prometheus_adapter
  namespace  = var.monitoring_namespace
  values     = [yamlencode(module.monitoring.adapter_values)]

  depends_on = [helm_release.operators]
}

locals {
  manifests = merge(
    { for k, v in module.postgres_dagster.manifests : "postgres-dagster/${k}" => v },
    { for k, v in module.postgres_mlflow.manifests : "postgres-mlflow/${k}" => v },
    { for k, v in module.kafka.manifests : "kafka/${k}" => v },
    { for k, v in module.monitoring.manifests : "monitoring/${k}" => v },
    { for k, v in module.mlflow.manifests : "mlflow/${k}" => v },
    { for k, v in module.serving.manifests : "serving/${k}" => v },
  )
}

resource "kubernetes_manifest" "objects" {
  for_each = local.manifests
  manifest = each.value

  depends_on = [helm_release.operators, kubernetes_secret_v1.postgres]
}

resource "helm_release" "dagster" {
  name       = "dagster"
  repository = "https://dagster-io.github.io/helm"
  chart      = "dagster"
  version    = var.chart_versions.dagster
  namespace  = var.namespace
  values     = [yamlencode(module.dagster.values)]
  timeout    = 900

  depends_on = [kubernetes_manifest.objects]
}
