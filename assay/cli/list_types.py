"""``assay list``: every reward and comparator type with a one-line description."""

from __future__ import annotations

import argparse

from assay.registry import COMPARATOR_TYPES, all_types


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(name, help="list every reward type with a one-line description")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    types = all_types()
    width = max(len(n) for n in types)
    family = None
    for type_name, entry in sorted(types.items(), key=lambda kv: (kv[1].family, kv[0])):
        if entry.family != family:
            family = entry.family
            print(f"\n{family}")
        kind = " (comparator)" if type_name in COMPARATOR_TYPES else ""
        needs = f"  [needs assay[{entry.extra}]]" if entry.extra else ""
        print(f"  {type_name.ljust(width)}  {entry.summary}{kind}{needs}")
    return 0
