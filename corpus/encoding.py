"""Feed bytes as text: the declared or sniffed encoding, with a UTF-8 or GB18030 fallback.

A Latin guess (windows-1252, iso-8859-2) is never made for bytes that do not say so, since
it turns CJK text into mojibake without a single error. Undecodable bytes are replaced by
U+FFFD and reported; `garbled_share` measures what is left of a text after a wrong decode.
"""

import codecs
import re
from dataclasses import dataclass, field

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
_FALLBACK = {"utf-8": "gb18030", "gb18030": "utf-8"}
_REPLACEMENT = "\ufffd"

GARBLED = 0.3
"""Share of mis-decoded characters above which a text counts as garbled."""


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, the codec used, and what went wrong (empty if nothing)."""

    text: str
    encoding: str
    problems: list[str] = field(default_factory=list)


def declared_encoding(raw: bytes) -> str | None:
    """The encoding named by a BOM or the XML declaration, as a Python codec name."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    match = _DECLARATION.match(raw[:512])
    return _codec(match.group(1).decode("ascii")) if match else None


def decode_feed(raw: bytes) -> Decoded:
    """Decode feed bytes: the declared encoding (UTF-8 if none), else the better fallback.

    GB2312 and GBK are read as their superset GB18030. Bytes declared Latin-1 or
    windows-1252 that are valid UTF-8 are read as UTF-8. When the declared encoding fails,
    GB18030 is tried for UTF-8 and the other way round; the one with fewer undecodable
    sequences wins, and those are replaced by U+FFFD and reported.
    """
    declared = declared_encoding(raw)
    encoding = declared or "utf-8"
    problems: list[str] = []
    if encoding in _LATIN and not raw.isascii() and _decodes(raw, "utf-8"):
        problems.append(f"declared {declared} but the bytes are UTF-8; read as UTF-8")
        encoding = "utf-8"
    if _decodes(raw, encoding):
        return Decoded(raw.decode(encoding), encoding, problems)
    text, bad, read_as = _read_better(raw, encoding)
    if read_as != encoding:
        problems.append(f"declared {declared or 'no encoding'} but the bytes are {read_as}")
        encoding = read_as
    if bad:
        problems.append(
            f"{bad} undecodable byte sequence{'s' if bad > 1 else ''} in {encoding} "
            "replaced by U+FFFD"
        )
    return Decoded(text, encoding, problems)


def decode_text(raw: bytes) -> str:
    """Bytes in no declared encoding (a line typed or piped) as text: UTF-8, else GB18030
    when that leaves far fewer undecodable sequences. A UTF-8 line with a stray invalid
    sequence stays UTF-8 (GB18030 would read it whole, as mojibake)."""
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
    code = ord(char)
    return (
        char == _REPLACEMENT
        or 0x80 <= code <= 0x24F
        or 0x2C6 <= code <= 0x2DD
        or char in "†‡•‰‹›€™‚„"
    )


def _codec(name: str) -> str | None:
    """Python's name of a codec (gb2312 and gbk widened to gb18030); None if unknown."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return "gb18030" if codec in _CHINESE else codec


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _read_better(raw: bytes, encoding: str) -> tuple[str, int, str]:
    """Bytes that `encoding` cannot decode, read with it or with its fallback (UTF-8 and
    GB18030 for each other), whichever leaves far fewer undecodable sequences (replaced):
    the text, how many there were, and the encoding used."""
    text, bad = _decode_replacing(raw, encoding)
    other = _FALLBACK.get(encoding.removesuffix("-sig"))
    if other:
        other_text, other_bad = _decode_replacing(raw, other)
        if other_bad * 4 < bad:
            return other_text, other_bad, other
    return text, bad, encoding


def _decode_replacing(raw: bytes, encoding: str) -> tuple[str, int]:
    """The text with undecodable sequences replaced, and how many there were."""
    text = raw.decode(encoding, errors="replace")
    genuine = raw.count(_REPLACEMENT.encode("utf-8")) if encoding.startswith("utf-8") else 0
    return text, max(text.count(_REPLACEMENT) - genuine, 0)
