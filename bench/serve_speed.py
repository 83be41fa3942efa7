"""Serving speed on this machine, each pair side by side in one run:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/serve_speed.py [--prompts 64] [--tokens 64] [--runs 3]

1. The same prompts through vLLM as the studio launches it (all at once, as clients would send
   them) vs plain transformers `generate` on the same model (batched, and one at a time): tokens/s.
2. Time to first token with a long shared system prompt, prefix caching on vs off.
Each side runs --runs times: it prints every run, the medians, and the ratio of each run.
The Deploy tab's benchmark button runs the same code (studio/servebench.py) as a job.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config, models, servebench  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        r = servebench.run(s, Path(home), models.active_model(s), args.prompts, args.tokens,
                            args.runs)
    print(servebench.report(r))


if __name__ == "__main__":
    main()
