"""Runs a script (or `-m module`, or `-c code`) with the tfforge package from a staging directory
first on sys.path: tools/sanitize.sh stages the Python sources with the sanitized _native there. An
editable install's import hook would otherwise redirect `import tfforge` to the normal build.

    python tools/sanitize_launch.py STAGE script.py args... | -m module args... | -c code
"""

import runpy
import sys

stage, rest = sys.argv[1], sys.argv[2:]
# scikit-build-core's editable installs map tfforge to the source tree and the normal build.
sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]
for name in [m for m in sys.modules if m == "tfforge" or m.startswith("tfforge.")]:
    del sys.modules[name]
sys.path.insert(0, stage)

if rest[0] == "-m":
    sys.argv = rest[1:]
    runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
elif rest[0] == "-c":
    sys.argv = ["-c"] + rest[2:]
    exec(compile(rest[1], "<sanitize>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = rest
    sys.path.insert(1, rest[0].rsplit("/", 1)[0] if "/" in rest[0] else ".")
    runpy.run_path(rest[0], run_name="__main__")
