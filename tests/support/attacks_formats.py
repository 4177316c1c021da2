"""Crafted hostile files for the field-library decoders (HEIC, PDF, JPEG XL, BMP, ICO).

Built in code from small valid files made with the libraries themselves (pillow-heif,
pypdfium2, pillow-jxl-plugin, Pillow) and patched by hand: a declared size of
50,000 × 50,000, a file cut short, garbage after a valid header, a PDF page box of
50,000 points and a PDF of 10,000 pages, an ICO whose directory lies about the image
inside it. ``crafted()`` in ``attacks`` includes them; the pipeline tests assert each
one's exact answer.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib

import pillow_heif
import pillow_jxl  # noqa: F401  (registers JXL with Pillow)
import pypdfium2 as pdfium
from PIL import Image

HUGE = 50_000


def _noise(size: int, seed: int = 6) -> bytes:
    return random.Random(seed).randbytes(size)


def _photo(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A small picture with structure (gradients), so codecs write real data."""
    image = Image.new(mode, (width, height))
    image.putdata([((x * 255) // width, (y * 255) // height, 128, 200)[:len(mode)] if len(mode) > 1
                   else (x * 255) // width for y in range(height) for x in range(width)])
    return image


# --- HEIC -------------------------------------------------------------------

@functools.cache
def heic(width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(_photo(width, height, mode)).save(out, quality=80)
    return out.getvalue()


def heic_declaring(width: int, height: int) -> bytes:
    """A valid small HEIC whose ``ispe`` (image spatial extent) boxes declare another size."""
    data = bytearray(heic())
    pos = data.find(b"ispe")
    while pos >= 0:
        struct.pack_into(">II", data, pos + 8, width, height)  # after type + version/flags
        pos = data.find(b"ispe", pos + 4)
    return bytes(data)


def heic_garbage_after_header() -> bytes:
    """ftyp + meta intact, every byte of the coded picture (mdat) replaced by noise."""
    data = bytearray(heic())
    pos = data.find(b"mdat")
    size = struct.unpack_from(">I", data, pos - 4)[0]
    data[pos + 4:pos - 4 + size] = _noise(size - 8)
    return bytes(data)


# --- PDF --------------------------------------------------------------------

def pdf_file(pages: list[tuple[float, float]], content: bytes = b"0 0 1 rg 10 10 80 80 re f") -> bytes:
    """A PDF written by hand: one page per (width, height) in points, each drawing ``content``."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    stream = 3
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    for width, height in pages:
        kids.append(len(objects) + 1)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Contents %d 0 R >>"
                       % (str(width).encode(), str(height).encode(), stream))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@functools.cache
def pdf_pages(count: int, size: tuple[int, int] = (200, 100)) -> bytes:
    """A PDF of ``count`` pages of ``size`` points in a few KB: every object but the content
    stream sits in one compressed object stream, found through a compressed cross-reference
    stream (PDF 1.5). Page 1 draws a blue square; the others inherit the page box and are blank."""
    content = b"0 0 1 rg 10 10 80 80 re f"
    first_page = 4
    objects = {1: b"<</Type/Catalog/Pages 2 0 R>>",
               2: b"<</Type/Pages/MediaBox[0 0 %d %d]/Count %d/Kids[%s]>>" % (
                   *size, count, b" ".join(b"%d 0 R" % (first_page + i) for i in range(count)))}
    objects[first_page] = b"<</Type/Page/Parent 2 0 R/Contents 3 0 R>>"
    for i in range(1, count):
        objects[first_page + i] = b"<</Type/Page/Parent 2 0 R>>"
    numbers = sorted(objects)
    heads, bodies = [], b""
    for n in numbers:
        heads.append(b"%d %d" % (n, len(bodies)))
        bodies += objects[n] + b" "
    head = b" ".join(heads) + b" "
    packed = zlib.compress(head + bodies, 9)
    objstm, xref_number = first_page + count, first_page + count + 1
    out = bytearray(b"%PDF-1.7\n")
    offsets = {3: len(out)}
    out += b"3 0 obj\n<</Length %d>>stream\n%s\nendstream\nendobj\n" % (len(content), content)
    offsets[objstm] = len(out)
    out += (b"%d 0 obj\n<</Type/ObjStm/N %d/First %d/Filter/FlateDecode/Length %d>>stream\n"
            % (objstm, len(numbers), len(head), len(packed)) + packed + b"\nendstream\nendobj\n")
    offsets[xref_number] = len(out)
    index = {n: i for i, n in enumerate(numbers)}
    rows = b""
    for n in range(xref_number + 1):
        if n in offsets:
            rows += struct.pack(">BIH", 1, offsets[n], 0)
        elif n in index:
            rows += struct.pack(">BIH", 2, objstm, index[n])
        else:
            rows += struct.pack(">BIH", 0, 0, 65535)
    table = zlib.compress(rows, 9)
    out += (b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root 1 0 R/Filter/FlateDecode/Length %d>>stream\n"
            % (xref_number, xref_number + 1, len(table)) + table + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)


# --- JPEG XL ----------------------------------------------------------------

@functools.cache
def jxl(width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    _photo(width, height, mode).save(out, "JXL", quality=80, effort=3)
    return out.getvalue()


def jxl_declaring(width: int, height: int) -> bytes:
    """A bare codestream whose SizeHeader declares ``width`` × ``height`` (30-bit fields),
    followed by a default ImageMetadata and a few bytes of noise."""
    bits, n = 0, 0

    def put(value: int, count: int) -> None:
        nonlocal bits, n
        bits |= value << n
        n += count
    put(0, 1)                                      # div8 = false
    put(3, 2); put(height - 1, 30)                 # height: U32 selector 3 = 30 bits + 1
    put(0, 3)                                      # ratio 0: width follows
    put(3, 2); put(width - 1, 30)
    put(1, 1)                                      # ImageMetadata.all_default
    return b"\xff\x0a" + bits.to_bytes((n + 7) // 8, "little") + _noise(64)


# --- BMP --------------------------------------------------------------------

@functools.cache
def bmp(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    _photo(width, height).save(out, "BMP")
    return out.getvalue()


def bmp_declaring(width: int, height: int) -> bytes:
    data = bytearray(bmp())
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


# --- ICO --------------------------------------------------------------------

def _png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of ``width`` × ``height`` zeros (deflates ~1000:1)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row * 256) for _ in range(height // 256)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def ico_file(entries: list[tuple[int, int, bytes]]) -> bytes:
    """An ICO whose directory says (width, height) for each embedded image (0 means 256)."""
    head = struct.pack("<HHH", 0, 1, len(entries))
    offset = 6 + 16 * len(entries)
    directory, bodies = b"", b""
    for width, height, body in entries:
        directory += struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32, len(body),
                                 offset + len(bodies))
        bodies += body
    return head + directory + bodies


def small_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    _photo(width, height, "RGBA").save(out, "PNG")
    return out.getvalue()


def crafted_formats():
    """(name, bytes, what it attacks, the statuses it must get) for the suite in ``attacks``."""
    h, j, b, p = heic(), jxl(), bmp(), pdf_pages(1)
    return [
        ("heic-declares-50000x50000.heic", heic_declaring(HUGE, HUGE),
         "HEIC whose ispe declares 50,000×50,000: 413 from the header", (413,)),
        ("heic-truncated.heic", h[:len(h) * 2 // 3], "HEIC cut short: 422", (422,)),
        ("heic-garbage-after-header.heic", heic_garbage_after_header(),
         "HEIC with valid boxes and noise for the coded picture: 422", (422,)),
        ("pdf-page-box-50000.pdf", pdf_file([(HUGE, HUGE)]),
         "PDF page of 50,000×50,000 points: 413 from the page box", (413,)),
        ("pdf-10000-pages.pdf", pdf_pages(10_000), "PDF of 10,000 pages: page 1 renders", ()),
        ("pdf-truncated.pdf", p[:40], "PDF cut short before its first object: 422", (422,)),
        ("pdf-garbage-after-header.pdf", b"%PDF-1.7\n" + _noise(4096), "PDF header then noise: 422", (422,)),
        ("jxl-declares-50000x50000.jxl", jxl_declaring(HUGE, HUGE),
         "JPEG XL whose SizeHeader declares 50,000×50,000: 413 from the header", (413,)),
        ("jxl-truncated.jxl", j[:len(j) // 2], "JPEG XL cut short: 422", (422,)),
        ("jxl-garbage-after-header.jxl", j[:12] + _noise(len(j)), "JPEG XL header then noise: 422", (422,)),
        ("bmp-declares-50000x50000.bmp", bmp_declaring(HUGE, HUGE),
         "BMP header declaring 50,000×50,000 over 9 KB of pixels: 413", (413,)),
        ("bmp-truncated.bmp", b[:len(b) // 2], "BMP cut short: 422", (422,)),
        ("bmp-garbage-after-header.bmp", b[:54] + _noise(len(b) - 54, 7)[:40] ,
         "BMP header then too few bytes of noise: 422", (422,)),
        ("ico-lying-directory-bomb.ico", ico_file([(16, 16, _png_bomb(40_000, 40_000))]),
         "ICO directory says 16×16, the PNG inside is 40,000×40,000: 413 from the PNG's header", (413,)),
        ("ico-lying-directory-small.ico", ico_file([(16, 16, small_png(48, 40))]),
         "ICO directory says 16×16, the PNG inside is 48×40: renders at 48×40", ()),
        ("ico-entry-past-end.ico", ico_file([(32, 32, small_png(32, 32))])[:40],
         "ICO whose image lies past the end of the file: 422", (422,)),
    ]
