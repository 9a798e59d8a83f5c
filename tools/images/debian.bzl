"""debian_packages: the .deb files of debian.lock.json as a Bazel repository, one filegroup per set.

Each package is fetched by sha256, so Bazel's repository cache serves it after the
first download, even once Debian's mirror has dropped that version. FLYWHEEL_DEB_MIRROR
(a URL prefix laid out like the Debian archive, e.g. an internal mirror) is tried first.
"""

def _debian_packages_impl(rctx):
    lock = json.decode(rctx.read(rctx.attr.lock))
    mirror = rctx.os.environ.get("FLYWHEEL_DEB_MIRROR", "").rstrip("/")
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for set_name, members in lock["sets"].items():
        files = []
        for name in members:
            pin = lock["packages"][name]
            filename = "debs/%s_%s.deb" % (name, pin["sha256"][:12])
            urls = list(pin["urls"])
            if mirror:
                urls = [mirror + "/" + u.split("/", 3)[3] for u in urls[:1]] + urls
            rctx.download(url = urls, output = filename, sha256 = pin["sha256"])
            files.append(filename)
        build.append("filegroup(\n    name = %r,\n    srcs = %r,\n)\n" % (set_name, files))
    rctx.file("BUILD.bazel", "\n".join(build))

debian_packages = repository_rule(
    implementation = _debian_packages_impl,
    attrs = {
        "lock": attr.label(mandatory = True, allow_single_file = True, doc = "debian.lock.json"),
    },
    environ = ["FLYWHEEL_DEB_MIRROR"],
)
