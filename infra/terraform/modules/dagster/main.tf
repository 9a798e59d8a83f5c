# Helm values of the official Dagster chart: webserver + daemon, K8sRunLauncher (dagster-k8s)
# launching each run as a Job from our user-code image, PostgreSQL for run/event/schedule storage.
# Pure: the values object only; the stack installs the chart with it.

locals {
  # Optional toleration fields left null are dropped: Kubernetes schemas want them absent.
  tolerations = [for t in var.gpu_tolerations : { for k, v in t : k => v if v != null }]

  # The chart renders "<repository>:<tag>"; "<repo>@sha256" + "<hex>" makes that a digest reference.
  image_parts = split("@sha256:", var.user_code_image)
  user_code_image = {
    repository = "${local.image_parts[0]}@sha256"
    tag        = local.image_parts[1]
    pullPolicy = "IfNotPresent"
  }

  environment = merge(
    {
      MLFLOW_TRACKING_URI          = var.mlflow_tracking_uri
      FLYWHEEL_KAFKA_BOOTSTRAP     = var.kafka_bootstrap_servers
      FLYWHEEL_DEPLOYMENT          = "k8s"
      FLYWHEEL_MODEL_REPOSITORY    = "/models"
      FLYWHEEL_TRAINING_K8S_CONFIG = jsonencode(local.training_k8s_config)
    },
    var.extra_env,
  )

  # What a training step puts in its `dagster-k8s/config` tag: the training-job image on the GPU pool.
  training_k8s_config = {
    container_config = {
      image     = var.training_job_image
      resources = { limits = { "nvidia.com/gpu" = "1" }, requests = { cpu = "4", memory = "16Gi" } }
    }
    pod_spec_config = {
      node_selector = var.gpu_node_selector
      tolerations   = local.tolerations
    }
  }

  security_context = { runAsNonRoot = true, runAsUser = 65532, runAsGroup = 65532, fsGroup = 65532 }

  values = {
    global = {
      postgresqlSecretName = var.postgres_secret
    }
    generatePostgresqlPasswordSecret = false
    postgresql = {
      enabled            = false
      postgresqlHost     = var.postgres_host
      postgresqlUsername = "dagster"
      postgresqlDatabase = "dagster"
      service            = { port = 5432 }
    }
    runLauncher = {
      type = "K8sRunLauncher"
      config = {
        k8sRunLauncher = {
          jobNamespace        = var.namespace
          loadInclusterConfig = true
          imagePullPolicy     = "IfNotPresent"
          envConfigMaps       = []
          envSecrets          = [for s in var.env_secrets : { name = s }]
          envVars             = []
          volumeMounts        = [{ name = "models", mountPath = "/models" }]
          volumes             = [{ name = "models", persistentVolumeClaim = { claimName = var.model_repository_claim } }]
          securityContext     = { allowPrivilegeEscalation = false }
          runK8sConfig = {
            podSpecConfig = { securityContext = local.security_context }
          }
        }
      }
    }
    "dagster-user-deployments" = {
      enabled = true
      deployments = [{
        name                        = "flywheel"
        image                       = local.user_code_image
        dagsterApiGrpcArgs          = ["--module-name", "assets.definitions"]
        port                        = 3030
        env                         = local.environment
        envSecrets                  = [for s in var.env_secrets : { name = s }]
        includeConfigInLaunchedRuns = { enabled = true }
        podSecurityContext          = local.security_context
        resources = {
          requests = { cpu = "500m", memory = "2Gi" }
          limits   = { memory = "4Gi" }
        }
        volumeMounts = [{ name = "models", mountPath = "/models" }]
        volumes      = [{ name = "models", persistentVolumeClaim = { claimName = var.model_repository_claim } }]
      }]
    }
    dagsterWebserver = {
      replicaCount = 1
    }
  }
}
