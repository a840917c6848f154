#!/usr/bin/env python3
"""Bootstrap: create .venv if missing, install the locked dependencies, then hand over to `ops.cli`.

Standard library only, so `make run` / `make test` work on a machine with nothing but Python 3.11+ and pip.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("JINGZHUN_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".jingzhun-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("requirements-dev.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before the venv exists
        sys.exit(f"Jingzhun needs Python 3.11 or newer (this is {sys.version.split()[0]})")
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV} …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("installing dependencies (requirements-dev.lock) …", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.check_call([*pip, "-r", str(ROOT / "requirements-dev.lock")])  # noqa: S603
    subprocess.check_call([*pip, "--no-deps", "-e", str(ROOT)])  # noqa: S603
    STAMP.write_text(fingerprint)


def main() -> int:
    ensure_venv()
    os.chdir(ROOT)
    args = [str(PYTHON), "-m", "ops.cli", *sys.argv[1:]]
    if os.name == "nt":
        return subprocess.call(args)  # noqa: S603
    os.execv(str(PYTHON), args)  # noqa: S606 - replace this process so Ctrl-C reaches the CLI directly
    return 0


if __name__ == "__main__":
    sys.exit(main())
