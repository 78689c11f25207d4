"""Run benchmarks: `python -m influence.bench [--quick] [NAME ...]` (default: all `bench_*` modules).

Each benchmark runs in its own subprocess so that peak-memory figures are per benchmark, not cumulative.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys

import influence.bench as pkg
from influence.bench import write_result


def _names() -> list[str]:
    return sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m influence.bench")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {_names()})")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--inline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.names or _names()
    failed = 0
    for name in names:
        if args.inline:
            module = importlib.import_module(f"influence.bench.bench_{name}")
            result = module.run(quick=args.quick)
            path = write_result(name, result)
            print(json.dumps(result, indent=2, default=str))
            print(f"-> {path}")
            continue
        print(f"== bench {name}", flush=True)
        cmd = [sys.executable, "-m", "influence.bench", "--inline", name] + (
            ["--quick"] if args.quick else []
        )
        failed += subprocess.call(cmd) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
