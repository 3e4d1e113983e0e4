"""``assay list``: every reward and comparator type with a one-line description."""

from __future__ import annotations

import argparse

from assay.registry import COMPARATOR_TYPES, REWARD_TYPES, all_types


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(name, help="list every reward type with a one-line description")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    all_types()  # loads the plugins into REWARD_TYPES
    # a reward and a comparator may share a name (``function``): each is listed
    types = [(n, e, False) for n, e in REWARD_TYPES.items()] + [(n, e, True) for n, e in COMPARATOR_TYPES.items()]
    width = max(len(n) for n, _, _ in types)
    family = None
    for type_name, entry, is_comparator in sorted(types, key=lambda t: (t[1].family, t[0], t[2])):
        if entry.family != family:
            family = entry.family
            print(f"\n{family}")
        kind = " (comparator)" if is_comparator else ""
        needs = f"  [needs assay[{entry.extra}]]" if entry.extra else ""
        print(f"  {type_name.ljust(width)}  {entry.summary}{kind}{needs}")
    return 0
