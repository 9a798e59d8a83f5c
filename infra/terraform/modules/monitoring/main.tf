# Monitoring: kube-prometheus-stack values, our recording/alert rules as a PrometheusRule, our Grafana
# dashboards as ConfigMaps the Grafana sidecar loads, and prometheus-adapter rules that turn the
# serving queue-depth metric into the custom metric the serving HPA scales on.
# Pure: values and objects only. Rules and dashboards are monitoring/'s files, read unchanged.

locals {
  labels = { "app.kubernetes.io/part-of" = "flywheel", "app.kubernetes.io/managed-by" = "terraform" }

  stack_values = {
    prometheus = {
      prometheusSpec = {
        # Select every ServiceMonitor/PrometheusRule, not only those labelled for this Helm release.
        serviceMonitorSelectorNilUsesHelmValues = false
        podMonitorSelectorNilUsesHelmValues     = false
        ruleSelectorNilUsesHelmValues           = false
        retention                               = var.retention
        storageSpec = {
          volumeClaimTemplate = {
            spec = {
              accessModes = ["ReadWriteOnce"]
              resources   = { requests = { storage = var.storage_size } }
            }
          }
        }
      }
    }
    grafana = {
      sidecar = {
        dashboards = { enabled = true, label = "grafana_dashboard", labelValue = "1", searchNamespace = "ALL" }
      }
    }
  }

  adapter_values = {
    prometheus = { url = "http://${var.release}-prometheus.${var.namespace}.svc", port = 9090 }
    rules = {
      default = false
      custom = [{
        seriesQuery  = "flywheel_inference_queue_rows{namespace!=\"\",pod!=\"\"}"
        resources    = { overrides = { namespace = { resource = "namespace" }, pod = { resource = "pod" } } }
        name         = { matches = "^flywheel_inference_queue_rows$", as = "flywheel_inference_queue_rows" }
        metricsQuery = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"
      }]
    }
  }

  rules = {
    apiVersion = "monitoring.coreos.com/v1"
    kind       = "PrometheusRule"
    metadata   = { name = "flywheel-rules", namespace = var.namespace, labels = merge(local.labels, { release = var.release }) }
    spec       = { groups = yamldecode(file(var.rules_file)).groups }
  }

  dashboards = {
    for path in sort(fileset(var.dashboards_dir, "*.json")) : trimsuffix(path, ".json") => {
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata = {
        name      = "dashboard-${trimsuffix(path, ".json")}"
        namespace = var.namespace
        labels    = merge(local.labels, { grafana_dashboard = "1" })
      }
      data = { (path) = file("${var.dashboards_dir}/${path}") }
    }
  }
}
