"""`python -m tfforge ...` runs the tfforge command (e.g. `python -m tfforge --cmake-dir` in a CMake build)."""

import sys

from tfforge.cli.main import main

sys.exit(main())
