output "manifests" {
  description = "StatefulSet and Service, keyed by kind/name."
  value       = { "StatefulSet/${var.name}" = local.statefulset, "Service/${var.name}" = local.service }
}

output "host" {
  description = "In-cluster host name of the database."
  value       = "${var.name}.${var.namespace}.svc"
}
