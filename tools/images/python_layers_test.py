"""The dependency layer takes exactly the locked closure (extras and markers honoured); the app layer adds the user."""

import tarfile
from pathlib import Path

import pytest

from tools.images.python_layers import (
    SCRIPTS,
    SITE_PACKAGES,
    ClosureError,
    application_layer,
    closure,
    dependency_layer,
    user_entries,
)


def _dist(site: Path, name: str, requires: list[str] = (), files: dict[str, str] | None = None) -> None:
    """A minimal installed distribution (METADATA + RECORD), as uv --target leaves it."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = [f"Name: {name}", "Version: 1.0", *[f"Requires-Dist: {r}" for r in requires]]
    (info / "METADATA").write_text("Metadata-Version: 2.1\n" + "\n".join(lines) + "\n")
    files = files or {f"{name.replace('-', '_')}/__init__.py": ""}
    for relative, content in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(content)
    record = [f"{p},," for p in files] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    _dist(site, "app-core", ["numpyish>=1", "win-only; sys_platform == 'win32'", "extra-dep; extra == 'http'"])
    _dist(site, "numpyish", files={"numpyish/__init__.py": "", "bin/numpyish-cli": "#!/usr/bin/python3.11\n"})
    _dist(site, "extra-dep")
    _dist(site, "unrelated")
    return site


def test_closure_follows_requirements_and_skips_other_platforms(site):
    assert [d.name for d in closure(site, ["app-core"])] == ["app-core", "numpyish"]


def test_extras_pull_in_their_dependencies(site):
    assert [d.name for d in closure(site, ["app-core[http]"])] == ["app-core", "extra-dep", "numpyish"]


def test_missing_distribution_names_who_needs_it(site):
    _dist(site, "broken", ["ghost>=2"])
    with pytest.raises(ClosureError, match="'ghost' \\(needed by broken\\).*requirements.in"):
        closure(site, ["broken"])


def test_dependency_layer_places_modules_and_scripts(site, tmp_path):
    layer, dists = dependency_layer(site, ["app-core"])
    assert f"{SITE_PACKAGES}/numpyish/__init__.py" in layer.entries
    assert f"{SCRIPTS}/numpyish-cli" in layer.entries
    assert not any("unrelated" in p for p in layer.entries)
    assert {d.name for d in dists} == {"app-core", "numpyish"}


def test_application_layer_and_user(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    layer = application_layer([("pkg/mod.py", tmp_path / "pkg" / "mod.py")])
    layer.add_all(user_entries("flywheel", 65532))
    layer.write(tmp_path / "app.tar.gz")
    with tarfile.open(tmp_path / "app.tar.gz") as tar:
        assert tar.extractfile("app/pkg/mod.py").read() == b"X = 1\n"
        home = tar.getmember("home/flywheel")
        assert (home.uid, home.gid) == (65532, 65532)
        assert b"flywheel:x:65532:65532" in tar.extractfile("etc/passwd").read()
        assert tar.getmember("tmp").mode == 0o1777


def test_closure_crosses_sites_but_takes_only_its_own(site, tmp_path):
    other = tmp_path / "torch-site"
    _dist(other, "heavy", ["numpyish"])
    _dist(site, "needs-heavy", ["heavy"])
    assert [d.name for d in closure(site, ["needs-heavy"], (other,))] == ["needs-heavy", "numpyish"]
    assert [d.name for d in closure(other, ["heavy"], (site,))] == ["heavy"]
