"""Builds, inspects and pushes Flywheel's container images; the one tool behind tools/images/image.bzl.

  image_tool.py layer   --recipe R.json --out L.tar.gz --digests L.json   # one layer, from its recipe
  image_tool.py image   --recipe I.json --out I.tar --digest I.digest     # layers + config -> image tarball
  image_tool.py rebuild --recipe I.json --root DIR --out-dir D            # every step again, from scratch
  image_tool.py push    --image I.tar --registry HOST[:PORT]/PATH [--tag T]

A recipe names its input files twice, by execution-root path ("exec", what Bazel
actions see) and by runfiles path ("short", what a test sees), so that `rebuild`
repeats a whole image build outside Bazel: the reproducibility test compares the
digest it gets with the one Bazel built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from tools.images import registry_push
from tools.images.debian_layer import debian_layer
from tools.images.deterministic_tar import Layer, LayerDigests
from tools.images.oci_image import ImageSpec, LayerBlob, read_image, write_image
from tools.images.python_layers import ClosureError, application_layer, dependency_layer, installed, user_entries

LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_LOCK = "dev.flywheel.lock-sha256"
LABEL_DEBIAN_LOCK = "dev.flywheel.debian-lock-sha256"


class Paths:
    """Resolves a recipe's file references against the execution root or a runfiles root."""

    def __init__(self, key: str, root: Path) -> None:
        self.key = key
        self.root = root

    def __call__(self, ref: dict[str, str]) -> Path:
        relative = ref[self.key]
        if self.key == "short" and relative.startswith("../"):
            return self.root.parent / relative[3:]  # another repository's runfiles sit beside the main one
        return self.root / relative


def build_layer(recipe: dict, paths: Paths) -> tuple[Layer, dict]:
    """The layer a recipe describes, and facts about it for the image (e.g. the distributions it holds)."""
    kind = recipe["kind"]
    if kind == "debian":
        debs = [(d["package"], paths(d["file"])) for d in recipe["debs"]]
        return debian_layer(debs, merged_usr_links=recipe["merged_usr"]), {"packages": [d[0] for d in debs]}
    if kind == "python_deps":
        site = paths(recipe["site"])
        available = installed(site)
        optional = [r for r in recipe.get("optional_requires", []) if r.split("[")[0].lower() in available]
        missing = sorted(set(recipe.get("optional_requires", [])) - set(optional))
        others = tuple(paths(ref) for ref in recipe.get("other_sites", []))
        layer, distributions = dependency_layer(site, recipe["requires"] + optional, others)
        versions = {d.name: d.dist.version for d in distributions}
        return layer, {"distributions": versions, "missing_optional": missing}
    if kind == "app":
        files = [(f["dest"], paths(f["file"])) for f in recipe["files"]]
        layer = application_layer(files)
        layer.add_all(user_entries(recipe["user"], recipe["uid"]))
        return layer, {"sha256": {dest: sha256_file(path) for dest, path in files if path.is_file()}}
    raise ValueError(f"unknown layer kind '{kind}' in recipe; expected debian, python_deps or app")


def write_layer(recipe: dict, paths: Paths, out: Path, digests_out: Path) -> LayerDigests:
    layer, facts = build_layer(recipe, paths)
    digests = layer.write(out, compresslevel=recipe.get("compresslevel", 6))
    digests_out.write_text(json.dumps({**digests.__dict__, "facts": facts}, sort_keys=True, indent=1) + "\n")
    return digests


def stable_status(path: Path | None) -> dict[str, str]:
    """Bazel's stable-status.txt (tools/images/workspace_status.sh) as a dict."""
    if path is None or not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return {k: v for k, v in pairs}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_labels(recipe: dict, paths: Paths, status: dict[str, str], layer_facts: list[dict]) -> dict[str, str]:
    """The OCI labels: title, git commit, the two locks' hashes and, for GPU images, the accelerator stack."""
    labels = dict(recipe.get("labels", {}))
    labels["org.opencontainers.image.title"] = recipe["title"]
    labels[LABEL_REVISION] = status.get("STABLE_GIT_COMMIT", recipe.get("revision", "unknown"))
    labels[LABEL_LOCK] = sha256_file(paths(recipe["lock"]))
    if recipe.get("debian_lock"):
        labels[LABEL_DEBIAN_LOCK] = sha256_file(paths(recipe["debian_lock"]))
    if recipe.get("accelerator") == "cuda":
        versions = {k: v for facts in layer_facts for k, v in facts.get("distributions", {}).items()}
        missing = {m for facts in layer_facts for m in facts.get("missing_optional", [])}
        labels["dev.flywheel.accelerator"] = "cuda"
        labels["dev.flywheel.torch"] = versions.get("torch", "absent")
        cuda = sorted(k for k in versions if k.startswith("nvidia-cuda-runtime"))
        labels["dev.flywheel.cuda-runtime"] = f"{cuda[0]}=={versions[cuda[0]]}" if cuda else "absent"
        labels["dev.flywheel.tensorrt"] = versions.get("tensorrt") or (
            "absent: not installable from this build's package index (see docs/infra.md)"
            if "tensorrt" in missing
            else "absent"
        )
    return labels


def build_image(recipe: dict, paths: Paths, layers: list[tuple[Path, dict]], status: dict[str, str], out: Path) -> str:
    """Writes the image tarball from built layers (path, digests JSON) and returns its digest."""
    blobs = [
        LayerBlob(path, LayerDigests(digest=d["digest"], diff_id=d["diff_id"], size=d["size"])) for path, d in layers
    ]
    env = dict(recipe.get("env", {}))
    if recipe.get("accelerator") == "cuda":
        env.setdefault("NVIDIA_VISIBLE_DEVICES", "all")
        env.setdefault("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")
    spec = ImageSpec(
        entrypoint=recipe["entrypoint"],
        cmd=recipe.get("cmd", []),
        env=env,
        user=recipe.get("user", "65532:65532"),
        workdir=recipe.get("workdir", "/app"),
        labels=image_labels(recipe, paths, status, [d.get("facts", {}) for _, d in layers]),
        ports=recipe.get("ports", []),
        repo_tag=recipe["repo_tag"],
    )
    return write_image(spec, blobs, out)


def rebuild(recipe: dict, paths: Paths, out_dir: Path, revision: str) -> str:
    """Every layer and the image again, from the recipe's inputs alone; returns the image digest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = []
    for index, layer_recipe in enumerate(recipe["layers"]):
        tarball, digests = out_dir / f"layer{index}.tar.gz", out_dir / f"layer{index}.json"
        write_layer(layer_recipe, paths, tarball, digests)
        layers.append((tarball, json.loads(digests.read_text())))
    return build_image(recipe, paths, layers, {"STABLE_GIT_COMMIT": revision}, out_dir / "image.tar")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    layer = sub.add_parser("layer", help="build one layer")
    layer.add_argument("--recipe", type=Path, required=True)
    layer.add_argument("--out", type=Path, required=True)
    layer.add_argument("--digests", type=Path, required=True)
    image = sub.add_parser("image", help="assemble an image from built layers")
    image.add_argument("--recipe", type=Path, required=True)
    image.add_argument("--layer", nargs=2, action="append", metavar=("TARBALL", "DIGESTS"), default=[])
    image.add_argument("--stable-status", type=Path)
    image.add_argument("--out", type=Path, required=True)
    image.add_argument("--digest", type=Path, required=True)
    again = sub.add_parser("rebuild", help="rebuild an image from its recipe, outside Bazel")
    again.add_argument("--recipe", type=Path, required=True)
    again.add_argument("--root", type=Path, required=True, help="runfiles root of the main repository")
    again.add_argument("--revision", required=True, help="the git commit label the Bazel build stamped")
    again.add_argument("--out-dir", type=Path, required=True)
    push = sub.add_parser("push", help="push an image tarball to a registry (OCI distribution API)")
    push.add_argument("--image", type=Path, required=True)
    push.add_argument("--registry", required=True, help="HOST[:PORT]/PATH, e.g. europe-docker.pkg.dev/proj/flywheel")
    push.add_argument("--name", required=True, help="repository name under the registry path, e.g. serving")
    push.add_argument("--tag", action="append", default=[], help="tags to set (the digest is always pushed)")
    push.add_argument("--username", default="")
    push.add_argument("--password-stdin", action="store_true")
    push.add_argument("--insecure", action="store_true", help="plain HTTP (a local test registry)")
    args = parser.parse_args(argv)

    try:
        if args.command == "layer":
            digests = write_layer(json.loads(args.recipe.read_text()), Paths("exec", Path(".")), args.out, args.digests)
            print(f"{args.out}: {digests.digest} ({digests.size} bytes)", file=sys.stderr)
        elif args.command == "image":
            layers = [(Path(t), json.loads(Path(d).read_text())) for t, d in args.layer]
            digest = build_image(
                json.loads(args.recipe.read_text()),
                Paths("exec", Path(".")),
                layers,
                stable_status(args.stable_status),
                args.out,
            )
            args.digest.write_text(digest + "\n")
        elif args.command == "rebuild":
            digest = rebuild(
                json.loads(args.recipe.read_text()), Paths("short", args.root), args.out_dir, args.revision
            )
            print(digest)
        elif args.command == "push":
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
            manifest, _, digest = read_image(args.image)
            pushed = registry_push.push(
                args.image,
                registry_push.Target.parse(args.registry, args.name, insecure=args.insecure),
                tags=args.tag,
                credentials=(args.username, password) if args.username else None,
            )
            assert pushed == digest, f"registry answered digest {pushed}, expected {digest}"
            print(f"pushed {args.registry}/{args.name}@{digest} ({len(manifest['layers'])} layers)")
    except (ClosureError, ValueError, OSError, registry_push.PushError) as exc:
        print(f"image_tool {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
