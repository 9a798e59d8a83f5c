"""Entry point of the inference server binary (`bazel run //serving:server -- --help`)."""

import sys

from serving.server import main

if __name__ == "__main__":
    sys.exit(main())
