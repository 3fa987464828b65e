"""Exits non-zero unless a `tfforge demo` log ends with "demo: N/N steps ok" and has no FAILED step."""

import re
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
summary = re.findall(r"^demo: (\d+)/(\d+) steps ok$", text, flags=re.M)
failed = re.findall(r"^\s+FAILED: .*$", text, flags=re.M)
if not summary or summary[-1][0] != summary[-1][1] or failed:
    print("ci: demo steps failed:" + "".join(f"\n  {f.strip()}" for f in failed) if failed
          else f"ci: the demo did not report every step ok ({summary[-1] if summary else 'no summary line'})")
    sys.exit(1)
print(f"ci: demo {summary[-1][0]}/{summary[-1][1]} steps ok")
