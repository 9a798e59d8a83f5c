"""Assembles layers into one image tarball that is both an OCI image layout and a `docker save` archive.

The tarball holds oci-layout, index.json and blobs/sha256/* (what skopeo, crane and
registries read) plus manifest.json (what `docker load` reads, Docker 20.10 included),
all pointing at the same blobs. The image digest is the sha256 of the OCI manifest:
with sorted JSON, no timestamps and reproducible layers, two clean builds agree on it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from tools.images.deterministic_tar import LayerDigests

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class ImageSpec:
    """What goes into an image's config besides its layers."""

    entrypoint: list[str]
    """The command the container runs (exec form); empty when orchestrators pass the whole command as args."""
    cmd: list[str] = field(default_factory=list)
    """Default arguments appended to the entrypoint."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables."""
    user: str = "65532:65532"
    """uid:gid the container runs as; never root."""
    workdir: str = "/app"
    """Working directory."""
    labels: dict[str, str] = field(default_factory=dict)
    """OCI labels (org.opencontainers.image.revision, dev.flywheel.lock-sha256, ...)."""
    ports: list[int] = field(default_factory=list)
    """TCP ports the image listens on (documentation for orchestrators)."""
    repo_tag: str = "flywheel/image:bazel"
    """The name `docker load` gives the image."""

    def __post_init__(self) -> None:
        if self.user.split(":")[0] in ("0", "root", ""):
            raise ValueError(f"image user '{self.user}' is root; images run as a non-root uid")
        if not self.entrypoint and not self.cmd:
            raise ValueError("an image needs an entrypoint or a cmd")


@dataclass(frozen=True)
class LayerBlob:
    """One built layer: its gzipped tarball on disk and its digests."""

    path: Path
    """The .tar.gz file."""
    digests: LayerDigests
    """Its digest, diff_id and size."""


def _json_bytes(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def image_config(spec: ImageSpec, layers: list[LayerBlob]) -> dict:
    """The OCI image config: no `created` time and no history timestamps, so it is reproducible."""
    config: dict = {
        "User": spec.user,
        "Env": [f"{k}={v}" for k, v in sorted(spec.env.items())],
        "WorkingDir": spec.workdir,
        "Labels": dict(sorted(spec.labels.items())),
    }
    if spec.entrypoint:
        config["Entrypoint"] = spec.entrypoint
    if spec.cmd:
        config["Cmd"] = spec.cmd
    if spec.ports:
        config["ExposedPorts"] = {f"{p}/tcp": {} for p in sorted(spec.ports)}
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.digests.diff_id for layer in layers]},
    }


def descriptor(media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def manifest(config_bytes: bytes, spec: ImageSpec, layers: list[LayerBlob]) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": descriptor(MEDIA_CONFIG, config_bytes),
        "layers": [
            {"mediaType": MEDIA_LAYER, "digest": layer.digests.digest, "size": layer.digests.size} for layer in layers
        ],
        "annotations": {k: v for k, v in sorted(spec.labels.items()) if k.startswith("org.opencontainers.")},
    }


def write_image(spec: ImageSpec, layers: list[LayerBlob], out: Path) -> str:
    """Writes the image tarball to out and returns the image digest (sha256 of the manifest)."""
    config_bytes = _json_bytes(image_config(spec, layers))
    manifest_bytes = _json_bytes(manifest(config_bytes, spec, layers))
    image_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                **descriptor(MEDIA_MANIFEST, manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": "bazel"},
            }
        ],
    }

    def blob(digest: str) -> str:
        return "blobs/sha256/" + digest.split(":", 1)[1]

    docker_manifest = [
        {
            "Config": blob(descriptor(MEDIA_CONFIG, config_bytes)["digest"]),
            "RepoTags": [spec.repo_tag],
            "Layers": [blob(layer.digests.digest) for layer in layers],
        }
    ]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "blobs/", None)
        _add_bytes(tar, "blobs/sha256/", None)
        blobs: dict[str, object] = {blob(descriptor(MEDIA_CONFIG, config_bytes)["digest"]): config_bytes}
        blobs[blob(image_digest)] = manifest_bytes
        for layer in layers:
            blobs[blob(layer.digests.digest)] = layer.path
        for name in sorted(blobs):
            source = blobs[name]
            if isinstance(source, Path):
                _add_file(tar, name, source)
            else:
                assert isinstance(source, bytes)
                _add_bytes(tar, name, source)
        _add_bytes(tar, "index.json", _json_bytes(index))
        _add_bytes(tar, "manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
        _add_bytes(tar, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
    return image_digest


def _info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes | None) -> None:
    info = _info(name)
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        return
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = _info(name)
    info.size = path.stat().st_size
    with path.open("rb") as handle:
        tar.addfile(info, handle)


def read_image(tarball: Path) -> tuple[dict, dict, str]:
    """(manifest, config, image digest) of an image tarball written by write_image."""
    with tarfile.open(tarball) as tar:

        def member(name: str) -> bytes:
            handle = tar.extractfile(name)
            if handle is None:
                raise ValueError(f"{tarball} has no {name}: not an image written by tools/images")
            return handle.read()

        index = json.loads(member("index.json"))
        digest = index["manifests"][0]["digest"]
        manifest_json = json.loads(member("blobs/sha256/" + digest.split(":", 1)[1]))
        config = json.loads(member("blobs/sha256/" + manifest_json["config"]["digest"].split(":", 1)[1]))
    return manifest_json, config, digest
