"""Agreement of the native period engine with VARTOOLS 1.51 on every reference case.

Runs the native equivalent of each case in ../shared/data/vartools/reference (the
definitions in tests/periods_reference.py, which the tests assert) and prints one
line per compared column: case, light curve, column, VARTOOLS value, native value,
and ``ok``, ``KNOWN: <why>`` or ``DIFF``. ``--summary`` prints only each case's
first period column and the columns that are not ``ok``.

    .venv/bin/python benchmarks/periods_agreement.py [--summary]
"""

import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "vartools"


def load_reference():
    spec = importlib.util.spec_from_file_location("periods_reference",
                                                  ROOT / "tests" / "periods_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args()
    reference = load_reference()
    counts = {"ok": 0, "known": 0, "diff": 0}
    for case in reference.CASES:
        shown_period = False
        for case_, name, column, expected, value, ok, note in reference.compare(DATA, case):
            status = "ok" if ok else (f"KNOWN: {note}" if note else "DIFF")
            counts["ok" if ok else ("known" if note else "diff")] += 1
            first_period = reference.kind(column) == "period" and not shown_period
            shown_period |= first_period
            if args.summary and ok and not first_period:
                continue
            print(f"{case_:<20} {name:<11} {column:<34} {expected:>22.10g} {value:>22.10g}  "
                  f"{status}")
    print(f"columns compared: {sum(counts.values())}; ok {counts['ok']}, known differences "
          f"{counts['known']}, unexplained {counts['diff']}")


if __name__ == "__main__":
    main()
