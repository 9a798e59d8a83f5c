"""pip_lock_repository: one group of the hash-pinned lock as a Bazel repository.

rules_python is unreachable here, so this small rule stands in for it. The
packages are installed by install_group.py into a content-addressed cache
outside Bazel and linked in as one directory: Bazel neither re-installs nor
re-hashes the thousands of files (torch alone has ~15k), and the group's lock
lines, written to lock_stamp.txt, key every action that depends on them.
"""

def _pip_lock_repository_impl(rctx):
    uv = rctx.os.environ.get("FLYWHEEL_UV") or rctx.which("uv")
    if not uv:
        fail("uv is not installed: run tools/setup.sh (or `python3 -m pip install uv==0.9.30`)")
    script = rctx.path(Label("//tools/python:install_group.py"))
    result = rctx.execute(
        [
            rctx.attr.python,
            script,
            "--lock",
            rctx.path(rctx.attr.lock),
            "--groups",
            rctx.path(rctx.attr.groups),
            "--group",
            rctx.attr.group,
            "--uv",
            str(uv),
            "--python",
            rctx.attr.python,
        ],
        timeout = 3600,
        quiet = False,
    )
    if result.return_code != 0:
        fail("installing Python group '%s' failed:\n%s" % (rctx.attr.group, result.stderr))
    site, key = result.stdout.strip().splitlines()[-2:]
    rctx.symlink(site, "site")
    rctx.file("lock_stamp.txt", key + "\n")
    rctx.file("BUILD.bazel", """\
package(default_visibility = ["//visibility:public"])

# `site` is one directory (a link into ~/.cache/flywheel/pysite); its content
# is fixed by lock_stamp.txt, the hash of this group's pinned lines.
py_library(
    name = "pkg",
    data = ["lock_stamp.txt", "site"],
    imports = ["site"],
)

exports_files(["site"])
""")

pip_lock_repository = repository_rule(
    implementation = _pip_lock_repository_impl,
    attrs = {
        "group": attr.string(mandatory = True, doc = "Group name in groups.json."),
        "groups": attr.label(mandatory = True, allow_single_file = True),
        "lock": attr.label(mandatory = True, allow_single_file = True),
        "python": attr.string(default = "/usr/bin/python3.11"),
    },
    environ = ["FLYWHEEL_CACHE", "FLYWHEEL_UV", "XDG_CACHE_HOME"],
)
