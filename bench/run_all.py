"""Run every benchmark in bench/ one after the other and print their figures (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["engine.py", "preview.py", "pdf.py", "pages.py", "monthly_run.py"]


def main() -> int:
    scripts = [HERE / name for name in ORDER if (HERE / name).exists()]
    scripts += sorted(p for p in HERE.glob("*.py") if p.name not in ORDER and p.name != Path(__file__).name
                      and not p.name.startswith("_"))
    failed = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        rc = subprocess.call([sys.executable, str(script)])
        if rc != 0:
            print(f"{script.name} exited with {rc}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
