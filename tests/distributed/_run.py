"""Run one of this folder's scripts in a fresh Python process and read its JSON result."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_script(module: str, env: dict[str, str], timeout: float = 600) -> dict:
    """``python -m module`` from the repository root; the last stdout line is JSON."""
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([full_env["PYTHONPATH"]] if full_env.get("PYTHONPATH") else [])
    )
    done = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=full_env, capture_output=True,
        text=True, timeout=timeout, check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{module} failed with exit code {done.returncode}:\n{done.stderr[-6000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])
