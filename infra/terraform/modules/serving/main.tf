# The serving tier as Kubernetes objects (pure: no provider, so tests render it offline):
# Deployment + Service + HorizontalPodAutoscaler (on the queue-depth metric, via
# prometheus-adapter) + PodDisruptionBudget + ServiceMonitor + the model repository PVC.

locals {
  # Optional toleration fields left null are dropped: Kubernetes schemas want them absent.
  tolerations = [for t in var.gpu_tolerations : { for k, v in t : k => v if v != null }]

  labels = {
    "app.kubernetes.io/name"       = var.name
    "app.kubernetes.io/part-of"    = "flywheel"
    "app.kubernetes.io/component"  = "serving"
    "app.kubernetes.io/managed-by" = "terraform"
  }
  selector = { "app.kubernetes.io/name" = var.name }
  gpu      = var.accelerator == "gpu"

  container_args = concat(
    [
      "--repository", "/models",
      "--host", "0.0.0.0",
      "--port", tostring(var.port),
      "--workers", tostring(var.workers),
    ],
    var.kafka_bootstrap_servers == "" ? [] : ["--kafka-bootstrap-servers", var.kafka_bootstrap_servers],
    var.extra_args,
  )

  gpu_limits = local.gpu ? { "nvidia.com/gpu" = "1" } : {}

  deployment = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec = {
      replicas = var.min_replicas
      selector = { matchLabels = local.selector }
      strategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = 0, maxSurge = 1 } }
      template = {
        metadata = {
          labels      = local.labels
          annotations = { "prometheus.io/scrape" = "true", "prometheus.io/port" = tostring(var.port) }
        }
        spec = {
          securityContext = {
            runAsNonRoot   = true
            runAsUser      = 65532
            runAsGroup     = 65532
            fsGroup        = 65532
            seccompProfile = { type = "RuntimeDefault" }
          }
          nodeSelector                  = local.gpu ? var.gpu_node_selector : {}
          tolerations                   = local.gpu ? local.tolerations : []
          terminationGracePeriodSeconds = 30
          containers = [{
            name  = "server"
            image = var.image
            args  = local.container_args
            env = [
              { name = "PROMETHEUS_MULTIPROC_DIR", value = "/tmp/metrics" },
            ]
            ports = [{ name = "http", containerPort = var.port, protocol = "TCP" }]
            readinessProbe = {
              httpGet          = { path = "/v2/health/ready", port = "http" }
              periodSeconds    = 5
              failureThreshold = 3
            }
            livenessProbe = {
              httpGet             = { path = "/v2/health/live", port = "http" }
              periodSeconds       = 10
              initialDelaySeconds = 10
            }
            resources = {
              requests = { cpu = var.cpu, memory = var.memory }
              limits   = merge({ memory = var.memory }, local.gpu_limits)
            }
            securityContext = {
              allowPrivilegeEscalation = false
              readOnlyRootFilesystem   = true
              capabilities             = { drop = ["ALL"] }
            }
            volumeMounts = [
              { name = "models", mountPath = "/models", readOnly = true },
              { name = "tmp", mountPath = "/tmp" },
            ]
          }]
          volumes = [
            { name = "models", persistentVolumeClaim = { claimName = var.model_repository_claim, readOnly = true } },
            { name = "tmp", emptyDir = {} },
          ]
        }
      }
    }
  }

  service = {
    apiVersion = "v1"
    kind       = "Service"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec = {
      selector = local.selector
      ports    = [{ name = "http", port = var.port, targetPort = "http", protocol = "TCP" }]
    }
  }

  # Scales on rows waiting in the dynamic batcher per pod (flywheel_inference_queue_rows,
  # served to the HPA by prometheus-adapter as a custom pods metric).
  autoscaler = {
    apiVersion = "autoscaling/v2"
    kind       = "HorizontalPodAutoscaler"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec = {
      scaleTargetRef = { apiVersion = "apps/v1", kind = "Deployment", name = var.name }
      minReplicas    = var.min_replicas
      maxReplicas    = var.max_replicas
      metrics = [{
        type = "Pods"
        pods = {
          metric = { name = "flywheel_inference_queue_rows" }
          target = { type = "AverageValue", averageValue = tostring(var.target_queue_rows) }
        }
      }]
      behavior = {
        scaleDown = { stabilizationWindowSeconds = 300 }
      }
    }
  }

  disruption_budget = {
    apiVersion = "policy/v1"
    kind       = "PodDisruptionBudget"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec       = { minAvailable = var.min_available, selector = { matchLabels = local.selector } }
  }

  service_monitor = {
    apiVersion = "monitoring.coreos.com/v1"
    kind       = "ServiceMonitor"
    metadata   = { name = var.name, namespace = var.namespace, labels = merge(local.labels, { release = var.prometheus_release }) }
    spec = {
      selector  = { matchLabels = local.selector }
      endpoints = [{ port = "http", path = "/metrics", interval = "15s" }]
    }
  }

  model_repository = {
    apiVersion = "v1"
    kind       = "PersistentVolumeClaim"
    metadata   = { name = var.model_repository_claim, namespace = var.namespace, labels = local.labels }
    spec = {
      accessModes      = ["ReadWriteMany"]
      storageClassName = var.model_repository_storage_class
      resources        = { requests = { storage = var.model_repository_size } }
    }
  }
}
