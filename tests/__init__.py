"""Integration and end-to-end tests: real services, several packages at once.

Unit tests live beside the code they test; tests here are tagged `integration`,
`e2e` or `requires-docker` so `bazel test //... --test_tag_filters=-e2e` is the fast loop.
"""
