"""Runs Terraform offline: fmt, validate against the locally built provider mirror, and provider-less rendering.

The Terraform registry is unreachable, so providers come from a filesystem mirror that
infra/setup.sh builds from the Go module proxy (~/.cache/flywheel/terraform-providers,
or FLYWHEEL_TF_MIRROR). Rendering needs no provider: infra/terraform/render uses only
the pure modules, so `terraform apply` there just evaluates them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WORKSPACE = Path(os.path.realpath(__file__)).parents[1]
TERRAFORM_DIR = WORKSPACE / "infra" / "terraform"
PROVIDERS = ("kubernetes", "helm")


class TerraformError(RuntimeError):
    """Terraform is missing or a command failed; the message has its output."""


@dataclass(frozen=True)
class Terraform:
    """A terraform binary and the CLI config that points it at the local provider mirror."""

    binary: str
    """Path of terraform."""
    cli_config: Path
    """TF_CLI_CONFIG_FILE for every command."""

    def run(self, workdir: Path, *args: str, timeout: float = 300) -> str:
        env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(workdir / ".terraform"),
        }
        result = subprocess.run(
            [self.binary, f"-chdir={workdir}", *args], capture_output=True, text=True, env=env, timeout=timeout
        )
        if result.returncode != 0:
            raise TerraformError(f"terraform {' '.join(args)} in {workdir} failed:\n{result.stdout}{result.stderr}")
        return result.stdout


def find_terraform() -> str:
    """The terraform binary (PATH or /usr/local/bin), or TerraformError saying how to get it."""
    found = shutil.which("terraform") or shutil.which("terraform", path="/usr/local/bin:/usr/bin")
    if not found:
        raise TerraformError("terraform is not installed: install Terraform >= 1.6 (CI images carry 1.11)")
    return found


def provider_mirror() -> Path:
    """The filesystem mirror infra/setup.sh fills."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flywheel" / "terraform-providers"
    return Path(os.environ.get("FLYWHEEL_TF_MIRROR") or default)


def missing_providers(mirror: Path) -> list[str]:
    """Providers infra/ needs that the mirror lacks."""
    return [
        p for p in PROVIDERS if not list((mirror / "registry.terraform.io" / "hashicorp" / p).glob("*/linux_amd64/*"))
    ]


def terraform(workdir: Path, mirror: Path | None = None) -> Terraform:
    """A Terraform whose CLI config (written into workdir) installs hashicorp/* only from the mirror."""
    mirror = mirror or provider_mirror()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "terraformrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
    )
    return Terraform(find_terraform(), config)


def copy_tree(destination: Path) -> Path:
    """infra/terraform copied (without state or .terraform) so init/apply never write into the source tree."""
    target = destination / "terraform"
    shutil.copytree(
        TERRAFORM_DIR, target, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "images.auto.tfvars.json")
    )
    return target


def render(workdir: Path, images: dict[str, str]) -> dict:
    """Every manifest and Helm values object of the stack, evaluated by Terraform itself (no provider, no cluster)."""
    tree = copy_tree(workdir)
    render_dir = tree / "render"
    variables = {
        "images": images,
        "rules_file": str(WORKSPACE / "monitoring" / "prometheus" / "flywheel_rules.yml"),
        "dashboards_dir": str(WORKSPACE / "monitoring" / "grafana"),
    }
    (render_dir / "test.tfvars.json").write_text(json.dumps(variables))
    cli = terraform(workdir)
    cli.run(render_dir, "init", "-backend=false")
    cli.run(render_dir, "apply", "-auto-approve", "-var-file=test.tfvars.json", f"-state={workdir / 'render.tfstate'}")
    outputs = json.loads(cli.run(render_dir, "output", "-json", f"-state={workdir / 'render.tfstate'}"))
    return {name: output["value"] for name, output in outputs.items()}
