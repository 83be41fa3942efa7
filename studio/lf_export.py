"""Runs `llamafactory-cli export` into a folder beside the target and renames it into place only
when the export succeeded, so an interrupted merge never leaves a half-written model that the
Models tab lists or that blocks the next merge.

    python -I lf_export.py PARTIAL TARGET -- llamafactory-cli export export.yaml

Standard library only: it runs under the training environment's python.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: lf_export.py PARTIAL TARGET -- COMMAND ARG...", file=sys.stderr)
        return 2
    partial, target, cmd = argv[0], argv[1], argv[3:]
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted merge left
    rc = subprocess.call(cmd)
    if rc != 0:
        return rc
    if not os.path.exists(os.path.join(partial, "config.json")):
        print(f"the export wrote no config.json into {partial}", file=sys.stderr)
        return 1
    if os.path.exists(target) and not os.path.exists(os.path.join(target, "config.json")):
        shutil.rmtree(target)  # an empty or broken folder of the same name: not a model
    os.rename(partial, target)
    print(f"merged model written to {target}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
