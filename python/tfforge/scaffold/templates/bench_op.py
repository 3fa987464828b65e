"""Times {{name}} against its reference composition, plain and under XLA, with tfforge's harness
(`tfforge bench op`); prints a table and writes {{name}}.json and {{name}}.png into --out
(default: this directory). Options: --shapes 8192x1024,... --dtypes float32,bfloat16 --device cpu|gpu
--reps N --json.
"""

import sys
from pathlib import Path

from tfforge.cli.main import main

if __name__ == "__main__":
    out = ["--out", str(Path(__file__).resolve().parent)] if "--out" not in sys.argv else []
    op = "{{name}}:{{name}}"
    reference = "{{name}}:reference"
    sys.exit(main(["bench", "op", op, "--reference", reference, "--xla", {{#grad}}"--backward", {{/grad}}*out, *sys.argv[1:]]))
