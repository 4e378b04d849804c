"""Feed bytes as text: the declared or sniffed encoding, else the likeliest of UTF-8, GB18030
and Big5 (the reading with the fewest undecodable, unusual or rare characters).

A Latin guess (windows-1252, iso-8859-2) is never made for bytes that do not say so, since
it turns CJK text into mojibake without a single error. Undecodable bytes are replaced by
U+FFFD and reported; `garbled_share` measures what is left of a text after a wrong decode.
"""

import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?\bencoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_DECLARED_TEXT = re.compile(r"^(\s*<\?xml[^>]*?\bencoding\s*=\s*)([\"'])[A-Za-z0-9._:-]+\2")
_LATIN = {"latin-1", "iso8859-1", "cp1252", "ascii"} | {f"iso8859-{n}" for n in range(2, 17)}
_CHINESE = {"gb2312", "gbk", "gb18030", "hz"}
_READINGS = ("utf-8", "gb18030", "big5")  # the order breaks ties between fallbacks
_COMMON = (("gb2312", 0xB0A1, 0xD7F9), ("big5", 0xA440, 0xC67E))  # level-1 (常用) hanzi
_REPLACEMENT = "\ufffd"

GARBLED = 0.3
"""Share of mis-decoded characters above which a text counts as garbled."""


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, the codec used, and what went wrong (empty if nothing)."""

    text: str
    encoding: str
    problems: list[str] = field(default_factory=list)


def declared_encoding(raw: bytes, charset: str | None = None) -> str | None:
    """The encoding named by a BOM, else by the server's `charset`, else by the XML
    declaration, as a Python codec name. A Latin charset from a server is passed over: it
    is many servers' default for any text, Chinese feeds included."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    if len(raw) >= 4 and 0 == raw[0] == raw[2] != raw[1] and raw[3]:
        return "utf-16-be"  # ASCII ("<?xml", "<rss") in UTF-16 without a BOM: XML 1.0 F.1
    if len(raw) >= 4 and 0 == raw[1] == raw[3] != raw[0] and raw[2]:
        return "utf-16-le"
    served = _codec(charset) if charset else None
    if served and served not in _LATIN:
        return served
    match = _DECLARATION.match(raw[:512])
    return _codec(match.group(1).decode("ascii")) if match else None


def decode_feed(raw: bytes, charset: str | None = None) -> Decoded:
    """Decode feed bytes: the declared encoding (UTF-8 if none; a server's `charset` first,
    see `declared_encoding`), else the better fallback.

    GB2312 and GBK are read as their superset GB18030. Bytes declared Latin-1 or
    windows-1252 that are valid UTF-8 are read as UTF-8. When the declared encoding fails,
    the other two of UTF-8, GB18030 and Big5 are tried (see `_read_better`); undecodable
    sequences are replaced by U+FFFD and reported.
    """
    declared = declared_encoding(raw, charset)
    encoding = declared or "utf-8"
    problems: list[str] = []
    if encoding in _LATIN and not raw.isascii():
        if _decodes(raw, "utf-8"):
            problems.append(f"declared {declared} but the bytes are UTF-8; read as UTF-8")
            encoding = "utf-8"
        elif chinese := _chinese_reading(raw, encoding):
            problems.append(f"declared {declared} but the bytes are {chinese}")
            encoding = chinese
    if _decodes(raw, encoding):
        return Decoded(raw.decode(encoding), encoding, problems)
    text, bad, read_as = _read_better(raw, encoding)
    if read_as != encoding:
        said = "utf-8 (a byte order mark)" if declared == "utf-8-sig" else declared
        problems.append(f"declared {said or 'no encoding'} but the bytes are {read_as}")
        encoding = read_as
    if bad:
        problems.append(
            f"{bad} undecodable byte sequence{'s' if bad > 1 else ''} in {encoding} "
            "replaced by U+FFFD"
        )
    return Decoded(text, encoding, problems)


def decode_text(raw: bytes) -> str:
    """Bytes in no declared encoding (a line typed or piped) as text: UTF-8, else GB18030 or
    Big5 when that reads far better. A UTF-8 line with a stray invalid sequence or a cut last
    character stays UTF-8, with U+FFFD for those (GB18030 would read it whole, as mojibake)."""
    if _decodes(raw, "utf-8"):
        return raw.decode("utf-8")
    return _read_better(raw, "utf-8")[0]


def as_utf8_xml(text: str) -> bytes:
    """XML text as UTF-8 bytes whose declaration (if any) says UTF-8."""
    return _DECLARED_TEXT.sub(r"\1\2utf-8\2", text, count=1).encode("utf-8")


def garbled_share(text: str) -> float:
    """Share of the non-space characters that are U+FFFD or typical of a Latin mis-decode.

    Those are the Latin-1 supplement and Latin Extended-A/B letters and the windows-1252
    symbols that UTF-8 or GBK bytes turn into when read as windows-1252 or iso-8859-2. The
    curly quotes, dashes and ellipsis of Chinese text are not counted.
    """
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(_misread(c) for c in chars) / len(chars)


def _misread(char: str) -> bool:
    """U+FFFD, a Latin mis-decode, or a private-use or unassigned code point."""
    code = ord(char)
    return (
        char == _REPLACEMENT
        or 0x80 <= code <= 0x24F
        or 0x2C6 <= code <= 0x2DD
        or char in "†‡•‰‹›€™‚„"
        or unicodedata.category(char) in ("Co", "Cn")
    )


@lru_cache(maxsize=65536)  # a character each: feeds bring new ones without end
def _unusual(char: str) -> bool:
    """Misread, or neither ASCII, punctuation, space nor a common (level-1) hanzi."""
    if char.isascii() or char == _REPLACEMENT:
        return False  # U+FFFD is counted as an undecodable sequence
    if _misread(char):
        return True
    if unicodedata.category(char)[0] in "PZ":
        return False
    return not any(_in_range(char, codec, low, high) for codec, low, high in _COMMON)


def _in_range(char: str, codec: str, low: int, high: int) -> bool:
    try:
        return low <= int.from_bytes(char.encode(codec)) <= high
    except UnicodeEncodeError:
        return False


def _codec(name: str) -> str | None:
    """Python's name of a codec (gb2312 and gbk widened to gb18030); None if unknown, or if
    it cannot be the encoding of bytes whose XML declaration reads as ASCII: not a text
    encoding (base64, rot13), or not ASCII-compatible (UTF-16 or -32 without a byte order
    mark or NULs, which `declared_encoding` recognises first)."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    if not _reads_ascii(codec):
        return None
    return "gb18030" if codec in _CHINESE else codec


@lru_cache(maxsize=256)  # a charset name each, as feeds declare them
def _reads_ascii(codec: str) -> bool:
    probe = b'<?xml version="1.0"?><rss>'
    try:
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        return decoder.decode(probe, final=True) == probe.decode("ascii")
    except Exception:  # codecs that are no text encodings fail in every way
        return False


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _read_better(raw: bytes, encoding: str) -> tuple[str, int, str]:
    """Bytes that `encoding` cannot decode, read with it or, if it is one of UTF-8, GB18030
    and Big5, with the best of the other two when that has a far smaller penalty (below a
    quarter): the text, its undecodable sequences (replaced) and the encoding used.

    The penalty counts undecodable sequences and unusual characters (misread, rare hanzi,
    kana or symbols from another codepage's rows): each codec reads the other's bytes mostly
    without an error but as such characters. A sequence cut by the end of the bytes is no
    evidence against an encoding, so UTF-8 cut inside its last character stays UTF-8.
    """
    penalty, text, bad = _reading(raw, encoding)
    if encoding.removesuffix("-sig") in _READINGS:
        rest = raw.removeprefix(codecs.BOM_UTF8) if encoding == "utf-8-sig" else raw
        others = [(*_reading(rest, o), o) for o in _READINGS if o != encoding.removesuffix("-sig")]
        best = min(others, key=lambda reading: reading[0])
        if best[0] * 4 < penalty:
            return best[1], best[2], best[3]
    return text, bad, encoding


def _chinese_reading(raw: bytes, latin: str) -> str | None:
    """GB18030 or Big5, when that reads bytes declared in a Latin codepage far better (a
    quarter of the penalty): GBK text mislabelled, a Latin charset being many tools' default."""
    penalty, best = min((_reading(raw, codec)[0], codec) for codec in ("gb18030", "big5"))
    return best if penalty * 4 < _reading(raw, latin)[0] else None


def _reading(raw: bytes, encoding: str) -> tuple[int, str, int]:
    """The penalty of reading `raw` in `encoding`, the text (undecodable sequences replaced)
    and how many there were."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(raw)
    cut = bool(decoder.getstate()[0])  # bytes left waiting for the rest of a character
    text += decoder.decode(b"", final=True)
    genuine = raw.count(_REPLACEMENT.encode("utf-8")) if encoding.startswith("utf-8") else 0
    bad = max(text.count(_REPLACEMENT) - genuine, 0)
    return max(bad - cut, 0) + sum(map(_unusual, text)), text, bad
