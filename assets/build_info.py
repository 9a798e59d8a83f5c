"""The `build_info` asset: which code and which dependency lock this deployment runs."""

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import dagster as dg

TRACKED_PACKAGES = ("dagster", "mlflow", "torch", "lightning", "pyspark", "kafka-python", "pandera", "onnxruntime")


def git_commit(repo: Path) -> str:
    """The commit the code runs from, or 'unknown' outside a git checkout (images carry it as a label)."""
    result = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def lock_hash(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()[:16] if lock.exists() else "unknown"


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dg.asset(group_name="platform", code_version="1")
def build_info(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The code commit, dependency lock and library versions this deployment runs with."""
    root = Path(__file__).resolve().parents[1]
    versions = package_versions()
    commit = git_commit(root)
    lock = lock_hash(root / "tools" / "python" / "requirements.lock")
    context.log.info(f"commit {commit}, lock {lock}")
    table = "\n".join(f"| {name} | {version} |" for name, version in versions.items())
    return dg.MaterializeResult(
        metadata={
            "git_commit": commit,
            "lock_hash": lock,
            "python": platform.python_version(),
            "packages": dg.MetadataValue.md("| package | version |\n|---|---|\n" + table),
        },
        data_version=dg.DataVersion(f"{commit[:12]}-{lock}"),
    )
