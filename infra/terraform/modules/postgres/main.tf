# One PostgreSQL instance (StatefulSet + Service) for a consumer of the stack (Dagster storage, MLflow
# backend). Pure: objects only. The password comes from a Secret the caller creates (never in state
# here), and the image is pinned in infra/third_party_images.json.

locals {
  labels   = { "app.kubernetes.io/name" = var.name, "app.kubernetes.io/part-of" = "flywheel", "app.kubernetes.io/managed-by" = "terraform" }
  selector = { "app.kubernetes.io/name" = var.name }

  statefulset = {
    apiVersion = "apps/v1"
    kind       = "StatefulSet"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec = {
      serviceName = var.name
      replicas    = 1
      selector    = { matchLabels = local.selector }
      template = {
        metadata = { labels = local.labels }
        spec = {
          securityContext = { runAsNonRoot = true, runAsUser = 999, fsGroup = 999 }
          containers = [{
            name  = "postgres"
            image = var.image
            env = [
              { name = "POSTGRES_DB", value = var.database },
              { name = "POSTGRES_USER", value = var.user },
              { name = "POSTGRES_PASSWORD", valueFrom = { secretKeyRef = { name = var.password_secret, key = var.password_key } } },
              { name = "PGDATA", value = "/var/lib/postgresql/data/pgdata" },
            ]
            ports          = [{ name = "postgres", containerPort = 5432 }]
            readinessProbe = { exec = { command = ["pg_isready", "-U", var.user, "-d", var.database] }, periodSeconds = 5 }
            resources = {
              requests = { cpu = "250m", memory = "512Mi" }
              limits   = { memory = "1Gi" }
            }
            volumeMounts = [{ name = "data", mountPath = "/var/lib/postgresql/data" }]
          }]
        }
      }
      volumeClaimTemplates = [{
        metadata = { name = "data" }
        spec = {
          accessModes = ["ReadWriteOnce"]
          resources   = { requests = { storage = var.storage_size } }
        }
      }]
    }
  }

  service = {
    apiVersion = "v1"
    kind       = "Service"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec = {
      selector = local.selector
      ports    = [{ name = "postgres", port = 5432, targetPort = "postgres" }]
    }
  }
}
