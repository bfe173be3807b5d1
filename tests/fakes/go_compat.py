"""Go standard-library error texts that Authorizer passes through verbatim.

Authorizer returns golang-jwt's errors unchanged, and those wrap the errors of Go's base64 and
JSON decoders (`illegal base64 data at input byte 3`, `invalid character 'x' looking for
beginning of value`). A client may key decisions on these strings, so the double reproduces them
byte for byte instead of surfacing Python's wording.
"""

from __future__ import annotations

import json
import string
import unicodedata

_URL_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_DECODE_MAP = {ord(char): index for index, char in enumerate(_URL_ALPHABET)}
_NEWLINES = (ord("\n"), ord("\r"))
_PAD = ord("=")
_SPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_GO_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}


class GoError(Exception):
    """An error whose str() is exactly the text Go would print for the same input."""


class _EndOfInput(Exception):
    """The JSON input ended inside a value."""


def b64url_decode(segment: str, *, padded: bool) -> bytes:
    """Decode like golang-jwt's DecodeSegment.

    golang-jwt v4 uses base64.RawURLEncoding (padded=False); v3 appends `=` up to a multiple of
    four and uses base64.URLEncoding (padded=True). Errors carry Go's CorruptInputError offset.
    """
    src = segment.encode("utf-8", "surrogatepass")
    if padded and len(src) % 4:
        src += b"=" * (4 - len(src) % 4)
    out = bytearray()
    si = 0
    while True:
        si, chunk, is_last = _decode_quantum(src, si, padded=padded)
        out += chunk
        if is_last:
            return bytes(out)


def _corrupt(offset: int) -> GoError:
    return GoError(f"illegal base64 data at input byte {offset}")


def _decode_quantum(src: bytes, si: int, *, padded: bool) -> tuple[int, bytes, bool]:
    """One step of Go's Encoding.decodeQuantum: up to four symbols to up to three bytes."""
    dbuf = [0, 0, 0, 0]
    j = 0
    while j < 4:
        if si == len(src):
            if j == 0:
                return si, b"", True
            if j == 1 or padded:
                raise _corrupt(si - j)
            return si, _assemble(dbuf, j), True
        char = src[si]
        si += 1
        value = _DECODE_MAP.get(char)
        if value is not None:
            dbuf[j] = value
            j += 1
            continue
        if char in _NEWLINES:
            continue
        if not padded or char != _PAD or j < 2:
            raise _corrupt(si - 1)
        si = _consume_padding(src, si, j)
        return si, _assemble(dbuf, j), True
    return si, _assemble(dbuf, 4), False


def _consume_padding(src: bytes, si: int, j: int) -> int:
    """After the first `=`: check the rest of the padding and that nothing follows it."""
    if j == 2:
        while si < len(src) and src[si] in _NEWLINES:
            si += 1
        if si == len(src):
            raise _corrupt(len(src))
        if src[si] != _PAD:
            raise _corrupt(si - 1)
        si += 1
    while si < len(src) and src[si] in _NEWLINES:
        si += 1
    if si < len(src):
        raise _corrupt(si)
    return si


def _assemble(dbuf: list[int], symbols: int) -> bytes:
    value = dbuf[0] << 18 | dbuf[1] << 12 | dbuf[2] << 6 | dbuf[3]
    return value.to_bytes(3, "big")[: symbols - 1]


def quote_char(char: int) -> str:
    """Go's encoding/json quoteChar: how a byte is shown inside a syntax error."""
    if char == ord("'"):
        return "'\\''"
    if char == ord('"'):
        return "'\"'"
    if char in _GO_ESCAPES:
        return f"'{_GO_ESCAPES[char]}'"
    if char < 0x20 or char == 0x7F:
        return f"'\\x{char:02x}'"
    text = chr(char)
    if char < 0x80 or unicodedata.category(text)[0] in "LMNPS":
        return f"'{text}'"
    return f"'\\u{char:04x}'"


class _Scanner:
    """A recursive-descent mirror of encoding/json's scanner, for its error messages only."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def next_byte(self) -> int:
        if self.pos >= len(self.data):
            raise _EndOfInput
        char = self.data[self.pos]
        self.pos += 1
        return char

    def skip_space(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in _SPACE:
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def value(self) -> None:
        self.skip_space()
        self.value_from(self.next_byte())

    def value_from(self, char: int) -> None:
        if char == ord("{"):
            self.object_rest()
        elif char == ord("["):
            self.array_rest()
        elif char == ord('"'):
            self.string_rest()
        elif char == ord("-") or char in _DIGITS:
            self.number_rest(char)
        elif char in b"tfn":
            self.literal_rest(char)
        else:
            raise _syntax(char, "looking for beginning of value")

    def object_rest(self) -> None:
        self.skip_space()
        char = self.next_byte()
        if char == ord("}"):
            return
        while True:
            if char != ord('"'):
                raise _syntax(char, "looking for beginning of object key string")
            self.string_rest()
            self.skip_space()
            char = self.next_byte()
            if char != ord(":"):
                raise _syntax(char, "after object key")
            self.value()
            self.skip_space()
            char = self.next_byte()
            if char == ord("}"):
                return
            if char != ord(","):
                raise _syntax(char, "after object key:value pair")
            self.skip_space()
            char = self.next_byte()

    def array_rest(self) -> None:
        self.skip_space()
        char = self.next_byte()
        if char == ord("]"):
            return
        while True:
            self.value_from(char)
            self.skip_space()
            char = self.next_byte()
            if char == ord("]"):
                return
            if char != ord(","):
                raise _syntax(char, "after array element")
            self.skip_space()
            char = self.next_byte()

    def string_rest(self) -> None:
        while True:
            char = self.next_byte()
            if char == ord('"'):
                return
            if char < 0x20:
                raise _syntax(char, "in string literal")
            if char == ord("\\"):
                self.escape_rest()

    def escape_rest(self) -> None:
        char = self.next_byte()
        if char in b'bfnrt\\/"':
            return
        if char != ord("u"):
            raise _syntax(char, "in string escape code")
        for _ in range(4):
            char = self.next_byte()
            if char not in b"0123456789abcdefABCDEF":
                raise _syntax(char, "in \\u hexadecimal character escape")

    def number_rest(self, char: int) -> None:
        if char == ord("-"):
            char = self.next_byte()
            if char not in _DIGITS:
                raise _syntax(char, "in numeric literal")
        if char != ord("0"):
            self.digits()
        if self.peek() == ord("."):
            self.pos += 1
            char = self.next_byte()
            if char not in _DIGITS:
                raise _syntax(char, "after decimal point in numeric literal")
            self.digits()
        if self.peek() in (ord("e"), ord("E")):
            self.pos += 1
            char = self.next_byte()
            if char in b"+-":
                char = self.next_byte()
            if char not in _DIGITS:
                raise _syntax(char, "in exponent of numeric literal")
            self.digits()

    def peek(self) -> int | None:
        return None if self.at_end() else self.data[self.pos]

    def digits(self) -> None:
        while not self.at_end() and self.data[self.pos] in _DIGITS:
            self.pos += 1

    def literal_rest(self, first: int) -> None:
        word = {ord("t"): "true", ord("f"): "false", ord("n"): "null"}[first]
        for expected in word[1:]:
            char = self.next_byte()
            if char != ord(expected):
                raise _syntax(char, f"in literal {word} (expecting '{expected}')")


def _syntax(char: int, context: str) -> GoError:
    return GoError(f"invalid character {quote_char(char)} {context}")


def _go_kind(value: object) -> str:
    """The JSON kind Go names in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _load(data: bytes) -> object:
    return json.loads(data.decode("utf-8", "replace"))


def unmarshal_object(data: bytes, go_type: str) -> dict[str, object] | None:
    """json.Unmarshal into a Go map: one value, nothing after it; `null` leaves the map nil."""
    scanner = _Scanner(data)
    try:
        scanner.value()
    except _EndOfInput:
        raise GoError("unexpected end of JSON input") from None
    scanner.skip_space()
    if not scanner.at_end():
        raise _syntax(scanner.data[scanner.pos], "after top-level value")
    return _as_object(_load(data), go_type)


def decode_first_object(data: bytes, go_type: str) -> dict[str, object] | None:
    """json.Decoder.Decode into a Go map: reads the first value and ignores what follows it."""
    scanner = _Scanner(data)
    scanner.skip_space()
    if scanner.at_end():
        raise GoError("EOF")
    start = scanner.pos
    try:
        scanner.value()
    except _EndOfInput:
        raise GoError("unexpected EOF") from None
    return _as_object(_load(data[start : scanner.pos]), go_type)


def _as_object(value: object, go_type: str) -> dict[str, object] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise GoError(f"json: cannot unmarshal {_go_kind(value)} into Go value of type {go_type}")
    return value


def struct_field_error(value: object, struct: str, field: str, go_type: str) -> GoError:
    """The UnmarshalTypeError for a struct field, e.g. a non-string `query`."""
    kind = _go_kind(value)
    return GoError(
        f"json: cannot unmarshal {kind} into Go struct field {struct}.{field} of type {go_type}"
    )
