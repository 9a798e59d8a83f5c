"""Terraform checks with no network: fmt everywhere, validate with providers built from the Go module proxy."""

import shutil

import pytest

from infra.terraform_cli import TERRAFORM_DIR, WORKSPACE, copy_tree, missing_providers, provider_mirror, terraform


def test_fmt_check_everywhere(tmp_path):
    cli = terraform(tmp_path)
    for directory in (WORKSPACE / "infra" / "terraform", WORKSPACE / "infra" / "examples"):
        cli.run(directory, "fmt", "-check", "-recursive", "-diff")


@pytest.fixture(scope="module")
def mirror():
    mirror = provider_mirror()
    missing = missing_providers(mirror)
    if missing:
        pytest.skip(
            f"terraform validate skipped: providers {missing} are not in {mirror}; run infra/setup.sh "
            "(builds them from the Go module proxy, ~20 min the first time)"
        )
    return mirror


@pytest.mark.parametrize("module", [".", "stack"], ids=["root", "stack"])
def test_validate_with_real_providers(tmp_path, mirror, module):
    tree = copy_tree(tmp_path)
    cli = terraform(tmp_path, mirror)
    cli.run(tree / module, "init", "-backend=false")
    output = cli.run(tree / module, "validate", "-no-color")
    assert "The configuration is valid" in output


def test_variable_validation_rejects_a_tag_instead_of_a_digest(tmp_path, mirror):
    """The stack refuses images that are not Bazel-built digests, at plan time, before touching a cluster."""
    tree = copy_tree(tmp_path)
    cli = terraform(tmp_path, mirror)
    cli.run(tree / "render", "init", "-backend=false")
    (tree / "render" / "bad.tfvars.json").write_text(
        '{"images": {"serving": "registry.example/flywheel/serving:latest", "user_code": "x", '
        '"training_job_gpu": "y"}, "rules_file": "/dev/null", "dashboards_dir": "/tmp"}'
    )
    with pytest.raises(Exception, match="must be referenced by digest"):
        cli.run(tree / "render", "plan", "-var-file=bad.tfvars.json", "-no-color")


def test_source_tree_has_no_terraform_state():
    leftovers = [p for p in TERRAFORM_DIR.rglob("*") if p.name.endswith(".tfstate") or p.name == ".terraform"]
    assert not leftovers, f"state or .terraform folders in the source tree: {leftovers}; remove them"
    assert shutil.which("terraform") or (WORKSPACE / "infra").is_dir()
