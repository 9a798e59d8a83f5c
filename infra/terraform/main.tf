# Root module: the Flywheel stack on whatever cluster a kubeconfig points at.
#
#   bazel run //infra/images:push_all -- --registry REGISTRY/PATH   # writes images.auto.tfvars.json
#   terraform -chdir=infra/terraform init
#   terraform -chdir=infra/terraform apply -target=module.stack.helm_release.operators
#   terraform -chdir=infra/terraform apply
#
# docs/infra.md is the runbook (empty cluster -> running loop, pushing images, rolling back).

provider "kubernetes" {
  config_path    = var.kubeconfig
  config_context = var.kube_context
}

provider "helm" {
  kubernetes = {
    config_path    = var.kubeconfig
    config_context = var.kube_context
  }
}

module "stack" {
  source               = "./stack"
  images               = var.images
  postgres_passwords   = var.postgres_passwords
  artifact_root        = var.artifact_root
  object_store_secret  = var.object_store_secret
  serving_accelerator  = var.serving_accelerator
  namespace            = var.namespace
  kafka_namespace      = var.kafka_namespace
  monitoring_namespace = var.monitoring_namespace
}
