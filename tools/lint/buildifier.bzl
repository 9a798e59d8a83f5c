"""buildifier_binary: the buildifier release binary from the npm package, pinned by sha256."""

def _buildifier_binary_impl(rctx):
    npm = rctx.which("npm")
    if not npm:
        fail("npm is not installed: run `apt-get install -y npm` (tools/setup.sh does)")
    result = rctx.execute(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", ".", "@bazel/buildifier@" + rctx.attr.version],
        timeout = 600,
    )
    if result.return_code != 0:
        fail("npm could not install @bazel/buildifier@%s:\n%s" % (rctx.attr.version, result.stderr))
    binary = "node_modules/@bazel/buildifier/buildifier-linux_amd64"
    digest = rctx.execute(["sha256sum", binary]).stdout.split(" ")[0]
    if digest != rctx.attr.sha256:
        fail("buildifier binary sha256 %s does not match the pin %s" % (digest, rctx.attr.sha256))
    rctx.symlink(binary, "buildifier")
    rctx.file("BUILD.bazel", 'exports_files(["buildifier"])\n')

buildifier_binary = repository_rule(
    implementation = _buildifier_binary_impl,
    attrs = {
        "sha256": attr.string(mandatory = True),
        "version": attr.string(mandatory = True),
    },
)
