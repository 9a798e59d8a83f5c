# The MLflow tracking server and model registry: PostgreSQL backend store, artifacts in object
# storage (s3://, gs:// or an S3-compatible endpoint), served from the user-code image (it carries
# the locked mlflow), so every Flywheel image in the cluster is one Bazel built.

locals {
  labels   = { "app.kubernetes.io/name" = "mlflow", "app.kubernetes.io/part-of" = "flywheel", "app.kubernetes.io/managed-by" = "terraform" }
  selector = { "app.kubernetes.io/name" = "mlflow" }

  deployment = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = "mlflow", namespace = var.namespace, labels = local.labels }
    spec = {
      replicas = var.replicas
      selector = { matchLabels = local.selector }
      template = {
        metadata = { labels = local.labels }
        spec = {
          securityContext    = { runAsNonRoot = true, runAsUser = 65532, runAsGroup = 65532 }
          serviceAccountName = var.service_account
          containers = [{
            name    = "mlflow"
            image   = var.image
            command = ["mlflow"]
            # $(VAR) is expanded by Kubernetes from the container's env: the password never enters the spec.
            args = [
              "server",
              "--host", "0.0.0.0",
              "--port", "5000",
              "--workers", tostring(var.workers),
              "--backend-store-uri", "postgresql://${var.database_user}:$(MLFLOW_DB_PASSWORD)@${var.database_host}:5432/${var.database_name}",
              "--artifacts-destination", var.artifact_root,
              "--serve-artifacts",
            ]
            env = concat(
              [{ name = "MLFLOW_DB_PASSWORD", valueFrom = { secretKeyRef = { name = var.database_secret, key = "postgresql-password" } } }],
              var.s3_endpoint_url == "" ? [] : [{ name = "MLFLOW_S3_ENDPOINT_URL", value = var.s3_endpoint_url }],
            )
            envFrom        = var.object_store_secret == "" ? [] : [{ secretRef = { name = var.object_store_secret } }]
            ports          = [{ name = "http", containerPort = 5000 }]
            readinessProbe = { httpGet = { path = "/health", port = "http" }, periodSeconds = 10, initialDelaySeconds = 15 }
            resources = {
              requests = { cpu = "500m", memory = "1Gi" }
              limits   = { memory = "2Gi" }
            }
          }]
        }
      }
    }
  }

  service = {
    apiVersion = "v1"
    kind       = "Service"
    metadata   = { name = "mlflow", namespace = var.namespace, labels = local.labels }
    spec       = { selector = local.selector, ports = [{ name = "http", port = 5000, targetPort = "http" }] }
  }
}
