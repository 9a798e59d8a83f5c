"""py_pytest: a py_test whose tests are collected and run by pytest."""

def py_pytest(name, srcs, deps = [], data = [], args = [], plugins = [], env = {}, tags = [], size = "small", **kwargs):
    """Runs the pytest tests in `srcs` as one Bazel test.

    Args:
      name: target name.
      srcs: test files (and helpers) collected by pytest.
      deps: libraries the tests import; pytest itself is added.
      data: runtime files.
      args: extra pytest arguments.
      plugins: pytest plugin modules to load (`-p`), e.g. tools.services.pytest_plugin.
      env: extra environment.
      tags: Bazel tags (`integration`, `e2e`, `requires-docker`, ...).
      size: Bazel test size.
      **kwargs: passed to py_test.
    """
    native.py_test(
        name = name,
        srcs = srcs + ["//tools/bazel:pytest_main.py"],
        main = "//tools/bazel:pytest_main.py",
        deps = deps + ["@pypi//:pkg"],
        data = data,
        args = ["$(location %s)" % s for s in srcs if s.endswith("_test.py")] + [a for p in plugins for a in ("-p", p)] + args,
        env = env,
        tags = tags,
        size = size,
        python_version = "PY3",
        **kwargs
    )
