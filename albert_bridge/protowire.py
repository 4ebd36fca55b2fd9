"""The protobuf wire format, just enough for the two protobuf files we read and write without the `protobuf` package:
TF's BundleHeaderProto / BundleEntryProto (formats/tf_bundle.py) and SentencePiece's ModelProto
(tokenization/spm_model.py). LevelDB's table blocks use the same varints.

A message is a run of (key, value) pairs; key = field number << 3 | wire type. Only four wire types exist in
proto3 files: varint, fixed64, length-delimited bytes, fixed32.
"""

from __future__ import annotations

from typing import Iterator

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """Bytes that are no protobuf message (truncated, overlong, unknown wire type, wrong type for a known field)."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at buf[pos:] and the position after it."""
    result = shift = 0
    while shift < 70:  # a varint holds at most 10 bytes
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise WireError("varint longer than 10 bytes")


def encode_varint(value: int) -> bytes:
    value &= _MASK64  # a negative int32/int64 is written as 64-bit two's complement, as protobuf does
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def signed(value: int) -> int:
    """A varint read back as int32/int64: negatives were stored as 64-bit two's complement (pad_id=-1)."""
    return value - (1 << 64) if value >= 1 << 63 else value


_FIXED_SIZE = {FIXED64: 8, FIXED32: 4}


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for one message: int for a varint, the raw bytes otherwise (a
    sub-message, a string, or the little-endian bytes of a fixed-width field). A field that runs past the end of
    its message is refused, as protobuf does."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        else:
            if wire == BYTES:
                size, pos = read_varint(buf, pos)
            elif wire in _FIXED_SIZE:
                size = _FIXED_SIZE[wire]
            else:
                raise WireError(f"unsupported protobuf wire type {wire}")
            if pos + size > end:
                raise WireError(f"field {number} runs past the end of its message")
            value, pos = buf[pos:pos + size], pos + size
        yield number, wire, value


def known_fields(buf: bytes, schema: dict[int, type]) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) for the fields named in schema (number -> int or bytes); fixed-width fields come
    as ints. Other fields are skipped, as protobuf does; a known field of the wrong kind is an error."""
    for number, wire, value in fields(buf):
        if number not in schema:
            continue
        if wire in _FIXED_SIZE:
            value = int.from_bytes(value, "little")
        if not isinstance(value, schema[number]):
            raise WireError(f"protobuf field {number} has wire type {wire}")
        yield number, value


def key(number: int, wire: int) -> bytes:
    return encode_varint(number << 3 | wire)


def varint_field(number: int, value: int) -> bytes:
    return key(number, VARINT) + encode_varint(value)


def bytes_field(number: int, payload: bytes) -> bytes:
    return key(number, BYTES) + encode_varint(len(payload)) + payload
