"""Products of float16 rows with a float32 vector, compiled with numba.

numpy converts float16 to float32 one element at a time (about 3 ns each), which made the
conversion, not the products, the cost of searching a large segment's closest lists. Here a
float16's bits index a 65,536-entry table of its float32 values, in the same loop as the
product. Imported only when a segment is large enough to have lists.
"""

import numpy as np

from .kernel import _jit

TABLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
"""Every float16 bit pattern's float32 value."""


@_jit
def _dots(bits: np.ndarray, rows: np.ndarray, query: np.ndarray, table: np.ndarray) -> np.ndarray:
    out = np.empty(len(rows), np.float32)
    for i in range(len(rows)):
        r = rows[i]
        s = np.float32(0.0)
        for j in range(query.shape[0]):
            s += table[bits[r, j]] * query[j]
        out[i] = s
    return out


def dots(vectors: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """`vectors[rows] @ query` in float32, for float16 `vectors` (memory-mapped or not)."""
    bits = vectors.view(np.uint16)
    return _dots(bits, rows.astype(np.int64), query.astype(np.float32), TABLE)
