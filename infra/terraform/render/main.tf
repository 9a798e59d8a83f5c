# Renders every Kubernetes object and Helm values object of the stack with no cluster and no
# provider: only the pure modules, so `terraform apply` here just evaluates them. Used by
# infra/manifest_validation_test.py; handy by hand too:
#   terraform -chdir=infra/terraform/render init && terraform -chdir=infra/terraform/render apply \
#     -var-file=sample.tfvars.json && terraform -chdir=infra/terraform/render output -json

variable "images" {
  description = "Images by digest, as the stack takes them."
  type        = map(string)
}

variable "rules_file" {
  description = "monitoring/prometheus/flywheel_rules.yml"
  type        = string
}

variable "dashboards_dir" {
  description = "monitoring/grafana"
  type        = string
}

module "postgres" {
  source          = "../modules/postgres"
  name            = "dagster-postgresql"
  namespace       = "flywheel"
  database        = "dagster"
  user            = "dagster"
  password_secret = "dagster-postgresql-secret"
}

module "kafka" {
  source    = "../modules/kafka"
  namespace = "kafka"
}

module "monitoring" {
  source         = "../modules/monitoring"
  namespace      = "monitoring"
  rules_file     = var.rules_file
  dashboards_dir = var.dashboards_dir
}

module "mlflow" {
  source          = "../modules/mlflow"
  namespace       = "flywheel"
  image           = var.images["user_code"]
  database_host   = module.postgres.host
  database_secret = "mlflow-postgresql-secret"
  artifact_root   = "s3://flywheel-artifacts/mlflow"
}

module "serving_cpu" {
  source                  = "../modules/serving"
  namespace               = "flywheel"
  image                   = var.images["serving"]
  kafka_bootstrap_servers = module.kafka.bootstrap_servers
}

module "serving_gpu" {
  source                 = "../modules/serving"
  name                   = "flywheel-serving-gpu"
  namespace              = "flywheel"
  image                  = var.images["serving"]
  accelerator            = "gpu"
  model_repository_claim = "flywheel-models-gpu"
}

module "dagster" {
  source                  = "../modules/dagster"
  namespace               = "flywheel"
  user_code_image         = var.images["user_code"]
  training_job_image      = var.images["training_job_gpu"]
  postgres_host           = module.postgres.host
  mlflow_tracking_uri     = module.mlflow.tracking_uri
  kafka_bootstrap_servers = module.kafka.bootstrap_servers
}

output "manifests" {
  description = "Every Kubernetes object, keyed by module/kind/name."
  value = merge(
    { for k, v in module.postgres.manifests : "postgres/${k}" => v },
    { for k, v in module.kafka.manifests : "kafka/${k}" => v },
    { for k, v in module.monitoring.manifests : "monitoring/${k}" => v },
    { for k, v in module.mlflow.manifests : "mlflow/${k}" => v },
    { for k, v in module.serving_cpu.manifests : "serving/${k}" => v },
    { for k, v in module.serving_gpu.manifests : "serving-gpu/${k}" => v },
  )
}

output "helm_values" {
  description = "Helm values per chart."
  value = {
    dagster               = module.dagster.values
    strimzi               = module.kafka.operator_values
    kube_prometheus_stack = module.monitoring.stack_values
    prometheus_adapter    = module.monitoring.adapter_values
  }
}
