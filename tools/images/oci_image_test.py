"""The image tarball is an OCI layout and a docker-save archive at once, with a reproducible digest."""

import hashlib
import json
import tarfile

import pytest

from tools.images.deterministic_tar import Entry, Layer
from tools.images.oci_image import ImageSpec, LayerBlob, read_image, write_image


def _image(tmp_path, name, labels=None):
    layer = Layer()
    layer.add(Entry("app/hello.txt", data=b"hello"))
    blob = tmp_path / f"{name}.tar.gz"
    spec = ImageSpec(entrypoint=["/usr/bin/python3.11"], labels=labels or {"org.opencontainers.image.revision": "abc"})
    return write_image(spec, [LayerBlob(blob, layer.write(blob))], tmp_path / f"{name}.tar")


def test_digest_is_reproducible_and_depends_on_labels(tmp_path):
    assert _image(tmp_path, "a") == _image(tmp_path, "b")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert _image(tmp_path, "c", {"org.opencontainers.image.revision": "def"}) != _image(tmp_path, "a")


def test_oci_layout_and_docker_manifest_agree(tmp_path):
    digest = _image(tmp_path, "a")
    manifest, config, read_digest = read_image(tmp_path / "a.tar")
    assert read_digest == digest
    assert config["config"]["User"] == "65532:65532"
    assert "created" not in config
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == "abc"
    with tarfile.open(tmp_path / "a.tar") as tar:
        docker = json.load(tar.extractfile("manifest.json"))[0]
        assert json.load(tar.extractfile("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        assert docker["Config"] == "blobs/sha256/" + manifest["config"]["digest"][7:]
        for path, layer in zip(docker["Layers"], manifest["layers"], strict=True):
            data = tar.extractfile(path).read()
            assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]


@pytest.mark.parametrize("user", ["0:0", "root", ""])
def test_root_user_is_refused(user):
    with pytest.raises(ValueError, match="non-root"):
        ImageSpec(entrypoint=["/bin/x"], user=user)
