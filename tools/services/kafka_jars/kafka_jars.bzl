"""kafka_jars: the Apache Kafka broker's jars, pinned by version and sha256."""

def _kafka_jars_impl(rctx):
    script = rctx.path(Label("//tools/services/kafka_jars:fetch_jars.py"))
    result = rctx.execute(
        [rctx.attr.python, script, "--pom", rctx.path(rctx.attr.pom), "--pins", rctx.path(rctx.attr.sha256s)],
        timeout = 1800,
    )
    if result.return_code != 0:
        fail("fetching the Kafka jars failed:\n" + result.stderr)
    rctx.symlink(result.stdout.strip().splitlines()[-1], "lib")
    rctx.symlink(rctx.path(rctx.attr.sha256s), "jars.sha256")
    rctx.file("BUILD.bazel", """\
package(default_visibility = ["//visibility:public"])

# `lib` is one directory of jars whose content jars.sha256 fixes.
filegroup(
    name = "jars",
    srcs = ["jars.sha256", "lib"],
)
""")

kafka_jars = repository_rule(
    implementation = _kafka_jars_impl,
    attrs = {
        "pom": attr.label(mandatory = True, allow_single_file = True),
        "python": attr.string(default = "/usr/bin/python3.11"),
        "sha256s": attr.label(mandatory = True, allow_single_file = True),
    },
    environ = ["FLYWHEEL_CACHE", "XDG_CACHE_HOME"],
)
