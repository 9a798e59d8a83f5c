variable "name" {
  description = "Name of the StatefulSet and Service (the host name clients use)."
  type        = string
}

variable "namespace" {
  description = "Namespace to deploy into."
  type        = string
}

variable "image" {
  description = "PostgreSQL image (third party, pinned in infra/third_party_images.json)."
  type        = string
  default     = "docker.io/library/postgres:16.10-bookworm"
}

variable "database" {
  description = "Database created on first start."
  type        = string
}

variable "user" {
  description = "Owner of the database."
  type        = string
}

variable "password_secret" {
  description = "Secret holding the user's password."
  type        = string
}

variable "password_key" {
  description = "Key of the password in that Secret."
  type        = string
  default     = "postgresql-password"
}

variable "storage_size" {
  description = "Size of the data volume."
  type        = string
  default     = "20Gi"
}
