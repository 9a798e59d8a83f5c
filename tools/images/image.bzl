"""Reproducible OCI images from Bazel targets (rules_oci is unreachable, so these small rules stand in).

    debian_layer(name, debs = "@debian//:python")            # pinned Debian packages (debian.lock.json)
    python_deps_layer(name, site = "@pypi//:pkg", requires = ["onnxruntime", ...])
    app_layer(name, deps = ["//serving"])                    # the py_* targets' own files, at /app
    oci_image(name, layers = [...], entrypoint = [...])      # -> name.tar (OCI layout + docker save), name.digest
    oci_push(name, image = ":name")                          # bazel run :name -- --registry HOST/PATH

Every action runs tools/images/image_tool.py on a recipe (JSON) naming its inputs;
oci_image also writes name.recipe.json, the whole build in one file, which
`image_tool.py rebuild` repeats outside Bazel (the reproducibility test).
"""

LayerInfo = provider(
    doc = "One built image layer.",
    fields = {
        "digests": "JSON file: digest, diff_id, size and facts of the layer",
        "recipe": "dict: how the layer was built (image_tool.py layer input)",
        "inputs": "depset of the files the recipe names",
        "tarball": "the layer's .tar.gz",
    },
)

def _ref(f):
    return {"exec": f.path, "short": f.short_path}

def _build_layer(ctx, recipe, inputs):
    recipe_file = ctx.actions.declare_file(ctx.label.name + ".layer.json")
    ctx.actions.write(recipe_file, json.encode(recipe))
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar.gz")
    digests = ctx.actions.declare_file(ctx.label.name + ".digests.json")
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = ["layer", "--recipe", recipe_file.path, "--out", tarball.path, "--digests", digests.path],
        inputs = depset([recipe_file], transitive = [inputs]),
        outputs = [tarball, digests],
        mnemonic = "ImageLayer",
        progress_message = "Building image layer %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset([tarball, digests]), runfiles = ctx.runfiles(files = [digests])),
        LayerInfo(tarball = tarball, digests = digests, recipe = recipe, inputs = inputs),
    ]

_TOOL = {
    "_tool": attr.label(default = "//tools/images:image_tool", executable = True, cfg = "exec"),
}

def _debian_layer_impl(ctx):
    by_name = {f.basename: f for f in ctx.files.debs}
    debs = [by_name[k] for k in sorted(by_name)]
    recipe = {
        "kind": "debian",
        "merged_usr": ctx.attr.merged_usr,
        "debs": [{"package": f.basename.rsplit("_", 1)[0], "file": _ref(f)} for f in debs],
    }
    return _build_layer(ctx, recipe, depset(debs))

debian_layer = rule(
    implementation = _debian_layer_impl,
    doc = "A layer of pinned Debian packages' files (a filegroup of @debian, from debian.lock.json).",
    attrs = dict(_TOOL, **{
        "debs": attr.label(mandatory = True, doc = "A set of @debian (one filegroup of .deb files)."),
        "merged_usr": attr.bool(default = True, doc = "Add bookworm's /bin -> usr/bin links (bottom layer only)."),
    }),
)

def _site_files(target):
    site, stamp = None, None
    for f in target[DefaultInfo].default_runfiles.files.to_list():
        if f.basename == "site":
            site = f
        elif f.basename == "lock_stamp.txt":
            stamp = f
    if site == None or stamp == None:
        fail("%s is not a pip_lock_repository :pkg target (no site/ and lock_stamp.txt)" % target.label)
    return site, stamp

def _python_deps_layer_impl(ctx):
    site, stamp = _site_files(ctx.attr.site)
    others = [_site_files(t) for t in ctx.attr.other_sites]
    recipe = {
        "kind": "python_deps",
        "site": _ref(site),
        "lock_stamp": _ref(stamp),
        "other_sites": [_ref(o[0]) for o in others],
        "requires": ctx.attr.requires,
        "optional_requires": ctx.attr.optional_requires,
        "compresslevel": ctx.attr.compresslevel,
    }
    return _build_layer(ctx, recipe, depset([site, stamp] + [f for o in others for f in o]))

python_deps_layer = rule(
    implementation = _python_deps_layer_impl,
    doc = "A layer of locked third-party distributions: the closure of `requires` from one pip_lock_repository.",
    attrs = dict(_TOOL, **{
        "compresslevel": attr.int(default = 6, doc = "gzip level; 1 for multi-GB layers (torch)."),
        "optional_requires": attr.string_list(doc = "Taken when the lock has them, else recorded as missing."),
        "other_sites": attr.label_list(doc = "Other pip_lock_repository :pkg targets whose packages other layers hold."),
        "requires": attr.string_list(mandatory = True, doc = "Top-level distributions, extras allowed."),
        "site": attr.label(mandatory = True, doc = "A pip_lock_repository's :pkg target, e.g. @pypi//:pkg."),
    }),
)

def _app_layer_impl(ctx):
    files = {}
    for dep in ctx.attr.deps:
        for f in dep[DefaultInfo].default_runfiles.files.to_list() + dep[DefaultInfo].files.to_list():
            if f.owner.workspace_name == "" and not f.short_path.startswith("../"):
                files[f.short_path] = f
    for f in ctx.files.data:
        files[f.short_path] = f
    ordered = [files[k] for k in sorted(files)]
    recipe = {
        "kind": "app",
        "files": [{"dest": f.short_path, "file": _ref(f)} for f in ordered],
        "user": ctx.attr.user,
        "uid": ctx.attr.uid,
    }
    return _build_layer(ctx, recipe, depset(ordered))

app_layer = rule(
    implementation = _app_layer_impl,
    doc = "The application layer: this repository's files of the given py_* targets at /app/<path>, and the user.",
    attrs = dict(_TOOL, **{
        "data": attr.label_list(allow_files = True, doc = "Extra files (e.g. a baked test model)."),
        "deps": attr.label_list(doc = "py_library/py_binary targets whose own sources and data go in."),
        "uid": attr.int(default = 65532, doc = "uid/gid of the image's non-root user."),
        "user": attr.string(default = "flywheel", doc = "Name of the image's non-root user."),
    }),
)

def _oci_image_impl(ctx):
    layers = [layer[LayerInfo] for layer in ctx.attr.layers]
    recipe = {
        "title": ctx.attr.title or ctx.label.name,
        "repo_tag": ctx.attr.repo_tag or ("flywheel/%s:bazel" % ctx.label.name),
        "entrypoint": ctx.attr.entrypoint,
        "cmd": ctx.attr.cmd,
        "env": ctx.attr.env,
        "user": "%d:%d" % (ctx.attr.uid, ctx.attr.uid),
        "ports": ctx.attr.ports,
        "labels": ctx.attr.labels,
        "accelerator": ctx.attr.accelerator,
        "lock": _ref(ctx.file.lock),
        "debian_lock": _ref(ctx.file.debian_lock),
        "layers": [layer.recipe for layer in layers],
    }
    recipe_file = ctx.actions.declare_file(ctx.label.name + ".recipe.json")
    ctx.actions.write(recipe_file, json.encode(recipe))
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ["image", "--recipe", recipe_file.path, "--out", tarball.path, "--digest", digest.path]
    args += ["--stable-status", ctx.info_file.path]
    for layer in layers:
        args += ["--layer", layer.tarball.path, layer.digests.path]
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = args,
        inputs = [recipe_file, ctx.info_file, ctx.file.lock, ctx.file.debian_lock] +
                 [layer.tarball for layer in layers] + [layer.digests for layer in layers],
        outputs = [tarball, digest],
        mnemonic = "OciImage",
        progress_message = "Assembling image %s" % ctx.label,
    )
    inputs = depset([ctx.file.lock, ctx.file.debian_lock], transitive = [layer.inputs for layer in layers])
    return [
        DefaultInfo(
            files = depset([tarball, digest, recipe_file]),
            runfiles = ctx.runfiles(files = [tarball, digest, recipe_file]),
        ),
        OutputGroupInfo(rebuild_inputs = inputs, recipe = depset([recipe_file])),
    ]

oci_image = rule(
    implementation = _oci_image_impl,
    doc = "An OCI image (name.tar: OCI layout + docker-archive in one; name.digest: sha256 of its manifest).",
    attrs = dict(_TOOL, **{
        "accelerator": attr.string(default = "", values = ["", "cuda"], doc = "cuda: declare the GPU stack."),
        "cmd": attr.string_list(doc = "Default arguments."),
        "debian_lock": attr.label(default = "//tools/images:debian.lock.json", allow_single_file = True),
        "entrypoint": attr.string_list(doc = "Exec-form entrypoint (empty: orchestrators pass the command)."),
        "env": attr.string_dict(doc = "Environment variables."),
        "labels": attr.string_dict(doc = "Extra OCI labels."),
        "layers": attr.label_list(mandatory = True, providers = [LayerInfo], doc = "Bottom first."),
        "lock": attr.label(default = "//tools/python:requirements.lock", allow_single_file = True),
        "ports": attr.int_list(doc = "TCP ports the image serves."),
        "repo_tag": attr.string(doc = "Name docker load gives it (default flywheel/<name>:bazel)."),
        "title": attr.string(doc = "org.opencontainers.image.title (default: the target name)."),
        "uid": attr.int(default = 65532, doc = "Non-root uid:gid to run as (matches app_layer)."),
    }),
)

def _oci_image_recipes_impl(ctx):
    recipes = depset(transitive = [image[OutputGroupInfo].recipe for image in ctx.attr.images])
    return [DefaultInfo(files = recipes, runfiles = ctx.runfiles(transitive_files = recipes))]

oci_image_recipes = rule(
    implementation = _oci_image_recipes_impl,
    doc = "Only the recipes (<name>.recipe.json) of oci_image targets: what they are, without building them.",
    attrs = {
        "images": attr.label_list(mandatory = True, doc = "oci_image targets."),
    },
)

def _oci_push_impl(ctx):
    tarball = [f for f in ctx.files.image if f.basename.endswith(".tar")][0]
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, """#!/usr/bin/env bash
# Pushes {image} to the registry named by --registry (see docs/infra.md).
set -euo pipefail
if [ -d "$0.runfiles" ]; then R="$0.runfiles"; else R="${{RUNFILES_DIR:-${{TEST_SRCDIR:?no runfiles found}}}}"; fi
exec "$R/{ws}/{tool}" push --image "$R/{ws}/{tar}" --name {name} "$@"
""".format(
        image = ctx.attr.image.label,
        ws = ctx.workspace_name,
        tool = ctx.executable._tool.short_path,
        tar = tarball.short_path,
        name = ctx.attr.repository,
    ), is_executable = True)
    runfiles = ctx.runfiles(files = [tarball]).merge(ctx.attr._tool[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

oci_push = rule(
    implementation = _oci_push_impl,
    doc = "`bazel run` target: pushes an oci_image to --registry HOST/PATH as <repository>, by digest and tags.",
    executable = True,
    attrs = dict(_TOOL, **{
        "image": attr.label(mandatory = True, doc = "An oci_image target."),
        "repository": attr.string(mandatory = True, doc = "Repository name under the registry, e.g. serving."),
    }),
)
