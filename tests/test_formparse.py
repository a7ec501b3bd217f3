"""``simple_form`` splits plain multipart bodies exactly as Starlette's parser does, and declines the rest.

Every body here is parsed by both: when ``simple_form`` takes it, the names, values, file names, part
headers and file bytes must equal Starlette's; when Starlette refuses a body, ``simple_form`` must decline
it (so the documented parser answers it). Generated bodies mix in the bytes a boundary search can trip on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from seawall.api.formparse import simple_form
from seawall.api.routes.items import FORM_MAX_FIELDS, FORM_MAX_FILES, FORM_MAX_PART

B = b"plainBoundary7"
CTYPE = b"multipart/form-data; boundary=" + B


def starlette_form(ctype: bytes, body: bytes) -> FormData | None:
    """Starlette's form of ``body`` as the route asks for it, or None when it refuses the body."""

    async def stream() -> AsyncIterator[bytes]:
        yield body
        yield b""

    async def parse() -> FormData | None:
        parser = MultiPartParser(Headers(raw=[(b"content-type", ctype)]), stream(), max_files=FORM_MAX_FILES,
                                 max_fields=FORM_MAX_FIELDS, max_part_size=FORM_MAX_PART)
        try:
            return await parser.parse()
        except MultiPartException:
            return None

    return asyncio.run(parse())


def ours(ctype: bytes, body: bytes) -> FormData | None:
    return simple_form(ctype, body, max_files=FORM_MAX_FILES, max_fields=FORM_MAX_FIELDS, max_part_size=FORM_MAX_PART)


def described(form: FormData) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            value.file.seek(0)
            out.append((name, ("file", value.filename, value.content_type, value.size, list(value.headers.raw),
                               value.file.read())))
        else:
            out.append((name, value))
    return out


def check(ctype: bytes, body: bytes) -> FormData | None:
    """Parse with both; ours must equal Starlette's whenever it takes the body."""
    mine = ours(ctype, body)
    theirs = starlette_form(ctype, body)
    if mine is not None:
        assert theirs is not None, "taken here, refused by Starlette"
        assert described(mine) == described(theirs)
    return mine


def part(name: str, value: bytes, filename: str | None = None, ctype: bytes | None = None,
         disposition_name: bytes = b"Content-Disposition") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = disposition_name + b": " + disposition.encode()
    if ctype is not None:
        head += b"\r\nContent-Type: " + ctype
    return b"--" + B + b"\r\n" + head + b"\r\n\r\n" + value + b"\r\n"


END = b"--" + B + b"--\r\n"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\r\n--" + B[:-1] + b"\r\n-\r\r\n\n--" + b"\xff\xd9"


def test_a_plain_upload_is_split_as_starlette_splits_it() -> None:
    body = (part("content_id", b"c-1") + part("account_id", "acct-é".encode()) + part("keep", b"true")
            + part("file", JPEG, "photo 1.jpg", b"image/jpeg") + END)
    form = check(CTYPE, body)
    assert form is not None
    upload = form["file"]
    assert isinstance(upload, UploadFile) and upload.content_type == "image/jpeg"
    assert form["account_id"] == "acct-é"


@pytest.mark.parametrize("body", [
    part("text", "café".encode()) + END,
    part("text", b"caf\xe9") + END,  # not UTF-8: read as Latin-1, as Starlette does
    part("content_id", b"") + part("file", b"", "") + END,  # empty values and an empty file name
    part("file", JPEG, "a.jpg") + END,  # a file part without a content type
    part("file", JPEG, "a.jpg", b"image/jpeg", disposition_name=b"content-disposition") + END,
    part("a=b c", b"x") + part("file", JPEG, "x=y;z.jpg".replace(";", ""), b"image/jpeg") + END,
])
def test_plain_bodies_are_taken_and_equal(body: bytes) -> None:
    assert check(CTYPE, body) is not None


@pytest.mark.parametrize(("ctype", "body"), [
    (b"multipart/form-data", part("content_id", b"x") + END),  # no boundary
    (b'multipart/form-data; boundary="' + B + b'"', part("content_id", b"x") + END),  # quoted boundary
    (CTYPE + b"; charset=latin-1", part("content_id", b"x") + END),  # a charset
    (b"Multipart/Form-Data; boundary=" + B, part("content_id", b"x") + END),
    (CTYPE, b"preamble\r\n" + part("content_id", b"x") + END),
    (CTYPE, part("content_id", b"x") + b"--" + B + b"--"),  # no final CRLF
    (CTYPE, part("content_id", b"x") + END + b"epilogue"),
    (CTYPE, part("content_id", b"x")),  # no closing delimiter
    (CTYPE, part("content_id", b"x")[:-2] + b"\r\n--" + B + b"X\r\n" + END),  # a delimiter followed by data
    (CTYPE, part("a", b"x") + b"--" + B + b"\r" + part("b", b"y")[len(B) + 4:] + END),  # a lone CR after one
    (CTYPE, part("content_id", b"x").replace(b": ", b":  ") + END),  # odd spacing
    (CTYPE, part("content_id", b"x").replace(b'name="content_id"', b"name=content_id") + END),  # unquoted
    (CTYPE, part("content_id", b"x").replace(b'"content_id"', b'"a\\"b"') + END),  # an escape
    (CTYPE, part("content_id", b"x").replace(b"\r\n\r\n", b"\r\nX-Other: 1\r\n\r\n") + END),  # another header
    (CTYPE, part("content_id", b"x").replace(b"form-data; ", b"form-data;") + END),
    (CTYPE, part("content_id", b"x").replace(b'"content_id"', b'"caf\xc3\xa9"') + END),  # non-ASCII name
    (CTYPE, part("file", b"1", "a.jpg") + part("file2", b"2", "b.jpg") + END),  # two files
    (CTYPE, b"".join(part(f"f{i}", b"v") for i in range(FORM_MAX_FIELDS + 1)) + END),  # too many fields
    (CTYPE, part("text", b"a" * (FORM_MAX_PART + 1)) + END),  # a field over the part limit
    (CTYPE, b"--" + B + b"\r\n\r\nno headers\r\n" + END),
    (CTYPE, b""),
])
def test_other_bodies_are_declined(ctype: bytes, body: bytes) -> None:
    assert check(ctype, body) is None


def test_limits_are_starlettes() -> None:
    """What is declined for a limit is what Starlette refuses; one part less is taken by both."""
    fields = b"".join(part(f"f{i}", b"v") for i in range(FORM_MAX_FIELDS))
    assert check(CTYPE, fields + END) is not None
    assert starlette_form(CTYPE, fields + part("one", b"more") + END) is None
    text = part("text", b"a" * FORM_MAX_PART) + END
    assert check(CTYPE, text) is not None
    assert starlette_form(CTYPE, part("text", b"a" * (FORM_MAX_PART + 1)) + END) is None
    assert starlette_form(CTYPE, part("file", b"1", "a") + part("file", b"2", "b") + END) is None


TRICKY = st.sampled_from([b"\r", b"\n", b"\r\n", b"--", b"\r\n--", B, B[:-1], b"\r\n--" + B[:-1], b"\x00", b"\xff",
                          b'"', b";", b"\\", b" ", "é".encode(), b"\r\n\r\n"])
CHUNK = st.one_of(st.binary(max_size=40), TRICKY)
VALUE = st.lists(CHUNK, max_size=12).map(b"".join)
NAME = st.sampled_from(["content_id", "account_id", "file", "text", "keep", "a b", "x=y", ""])


@given(st.lists(st.tuples(NAME, VALUE, st.one_of(st.none(), st.sampled_from(["a.jpg", "", "b c.png"])),
                          st.one_of(st.none(), st.sampled_from([b"image/jpeg", b"text/plain", b"x"]))),
                min_size=0, max_size=4),
       st.sampled_from([b"", b"\r\n", b"--", b"x"]), st.booleans())
def test_generated_bodies_agree_with_starlette(parts: list[tuple[str, bytes, str | None, bytes | None]],
                                               tail: bytes, closed: bool) -> None:
    body = b"".join(part(n, v, f, c) for n, v, f, c in parts) + (END if closed else tail)
    check(CTYPE, body)
