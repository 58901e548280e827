"""`make bench`: run every bench/bench_*.py in turn; each prints its own table
with ratios against a reference measured in the same run. `run_all.py NAME...` (make bench
BENCH_ARGS="startup crypto") runs only bench_NAME.py; bench_startup.py is each filter's start-up CPU."""

import glob
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
only = sys.argv[1:]
rc = 0
for script in sorted(glob.glob(os.path.join(here, "bench_*.py"))):
    name = os.path.basename(script)[len("bench_"):-3]
    if only and name not in only:
        continue
    print(f"\n=== bench: {name} ===", flush=True)
    r = subprocess.run([sys.executable, script])
    if r.returncode:
        print(f"bench {name} failed with exit {r.returncode}", flush=True)
        rc = 1
sys.exit(rc)
