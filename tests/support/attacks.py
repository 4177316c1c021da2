"""Crafted hostile inputs for the hostile-input suite (issue 9), made by code, never committed.

``crafted(canary)`` returns every file as a ``Crafted`` (name, bytes, what it attacks).
Each is a few bytes to a few hundred KB, built deterministically from the standard
library (PNG, GIF, TIFF, WebP containers, SVG, EXIF written by hand) and pyvips for the
few codec bitstreams (a JPEG scan, a VP8L frame) that are not worth writing by hand.

Files that reference something outside themselves (SVG ``href``, XML external entities)
point at a ``Canary``: a solid red PNG and a markup file on disk, and an HTTP URL the test
listens on. A renderer that follows the reference either fetches the URL or paints red
(or black) pixels into an image that is otherwise white: ``leaks`` marks those files.

``TARGETED`` lists the exact requests the issue names (file, query, ``Accept``), beside
the parameter sets the suite runs on every file.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyvips


@dataclass(frozen=True)
class Crafted:
    name: str      # object key under the source's crafted/ folder
    data: bytes
    attacks: str   # what it attacks, and what the service must do
    leaks: bool = False  # white image whose red/black pixels would mean a reference was followed
    refuse: tuple[int, ...] = ()  # must be refused (4xx); the usual status: 413 over a limit, 422 broken


@dataclass(frozen=True)
class Canary:
    """Things a hostile file may try to reach: a red PNG and an XML fragment on disk, an HTTP URL."""

    png: Path
    xml: Path
    url: str  # http://127.0.0.1:PORT — nothing may ever be requested from it

    @classmethod
    def write(cls, folder: Path, url: str) -> Canary:
        folder.mkdir(parents=True, exist_ok=True)
        png, xml = folder / "canary.png", folder / "canary.xml"
        png.write_bytes(png_file(8, 8, colour_type=2, rows=[b"\xff\x00\x00" * 8] * 8))
        xml.write_text('<rect xmlns="http://www.w3.org/2000/svg" width="100" height="100" fill="#000"/>')
        return cls(png=png, xml=xml, url=url.rstrip("/"))


@dataclass(frozen=True)
class Targeted:
    """One exact request the issue names."""

    key: str       # corpus path (formats/…) or crafted/…
    query: str
    accept: str | None = None
    item: str = ""  # the issue item it belongs to


TARGETED = (
    Targeted("formats/animated-rotating-squares.gif", "fit=fillmax&pad=4000&sharp=61&trim-color=000",
             "image/avif,image/webp,*/*", "7"),
    Targeted("formats/animated-rotating-squares.gif", "fit=fillmax&pad=4000&sharp=61&trim-color=000&auto=format",
             "image/avif,image/webp,*/*", "7"),
    Targeted("formats/animated-rotating-squares.gif", "fit=fillmax&pad=4000&sharp=61&trim-color=000&fm=webp",
             None, "7"),
    Targeted("crafted/svg-blur-8000.svg", "w=64", None, "7"),
    Targeted("colour/display-p3-8x8.png", "trim=auto&w=50", None, "8"),
    Targeted("png/s01n3p01.png", "trim=auto", None, "8"),
    Targeted("png/basn3p01.png", "trim=auto", None, "8"),
    Targeted("png/tp1n3p08.png", "trim=auto", None, "8"),
    Targeted("png/tbbn3p08.png", "trim=color&trim-color=000", None, "8"),
    Targeted("crafted/png-1x1-rgba-opaque.png", "trim=auto", None, "8"),
    Targeted("crafted/png-1x1-palette.png", "trim=auto&w=50", None, "8"),
    Targeted("crafted/gif-1x1.gif", "trim=auto", None, "8"),
    Targeted("crafted/png-palette-border.png", "trim=auto", None, "8"),
    Targeted("crafted/jpeg-truncated-sof-9000.jpg", "w=300", None, "11"),
)


# --- PNG -------------------------------------------------------------------------------------

def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 2, rows=None,
             before_idat: bytes = b"", after_idat: bytes = b"", idat: bytes | None = None) -> bytes:
    """A PNG; ``rows`` are the raw scanlines without filter bytes (default: zeros)."""
    if idat is None:
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
        row_bytes = (width * channels * bit_depth + 7) // 8
        rows = rows or [b"\x00" * row_bytes] * height
        idat = zlib.compress(b"".join(b"\x00" + r for r in rows), 9)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + before_idat + chunk(b"IDAT", idat)
            + after_idat + chunk(b"IEND", b""))


def _gradient_rows(width: int, height: int) -> list[bytes]:
    return [bytes((x * 7 + y * 3) & 0xFF for x in range(width) for _ in range(3)) for y in range(height)]


@functools.cache
def _deflated(head: bytes, fill: bytes, size: int) -> bytes:
    """zlib stream of ``head`` then ``fill`` repeated up to ``size`` bytes, made in 1 MB steps."""
    z = zlib.compressobj(9)
    parts, left, block = [z.compress(head)], size - len(head), fill * (2**20 // len(fill))
    while left > 0:
        parts.append(z.compress(block[:left]))
        left -= len(block)
    return b"".join(parts) + z.flush()


def _icc_header(declared: int) -> bytes:
    """A 128-byte ICC header claiming ``declared`` bytes (display class, RGB, XYZ PCS)."""
    header = bytearray(128)
    struct.pack_into(">I", header, 0, declared)
    header[4:8], header[8:12] = b"lcms", b"\x02\x10\x00\x00"
    header[12:16], header[16:20], header[20:24] = b"mntr", b"RGB ", b"XYZ "
    header[36:40] = b"acsp"
    return bytes(header)


def _png_cases() -> list[Crafted]:
    small = dict(width=8, height=8, rows=_gradient_rows(8, 8))
    ztxt = chunk(b"zTXt", b"Comment\x00\x00" + _deflated(b"", b"A", 10 * 2**20)) * 50
    itxt = chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + _deflated(b"", b" ", 20 * 2**20)) * 10
    iccp_big = chunk(b"iCCP", b"icc\x00\x00" + _deflated(_icc_header(200 * 2**20), b"\x00", 200 * 2**20))
    junk_profile = _icc_header(4096) + bytes(range(256)) * 15 + bytes(128)
    iccp_junk = chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(junk_profile, 9))
    not_json = (chunk(b"tEXt", b'Comment\x00{"a": NaN, "b": Infinity, "c": "\\ud800", "d": [[[[[[[[')
                + chunk(b"tEXt", b"\xff\xfe\x00" + b"\x80\x81\x82\xc3\x28\xed\xa0\x80 \x00\x01\x02\x1b[31m")
                + chunk(b"tEXt", b'"};alert(1)//\x00' + b"<script>x</script>\\\"\r\n")
                + chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta><rdf:RDF><unclosed")
                + chunk(b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08\xff\xff" + b"\x01\x12" * 40))
    opaque_rgba = png_file(1, 1, colour_type=6, rows=[b"\x10\x80\xf0\xff"])
    palette = png_file(1, 1, colour_type=3, rows=[b"\x00"], before_idat=chunk(b"PLTE", b"\x20\x40\x60"))
    border_rows = [bytes(1 if 2 <= x < 6 and 2 <= y < 6 else 0 for x in range(8)) for y in range(8)]
    border = png_file(8, 8, colour_type=3, rows=border_rows,
                      before_idat=chunk(b"PLTE", b"\xff\xff\xff\x00\x00\xff") + chunk(b"tRNS", b"\xff\x80"))
    # 65535×65535 declared; the IDAT holds the first rows only (a header-first limit never reads it)
    huge_idat = zlib.compressobj(9)
    huge = huge_idat.compress(b"\x00" * (1 + 65535 * 3) * 4) + huge_idat.flush(zlib.Z_SYNC_FLUSH)
    return [
        Crafted("png-ztxt-50x10mb.png", png_file(**small, after_idat=ztxt),
                "issue 6: 50 zTXt chunks of 10 MB each (decompressed) in ~511 KB: memory that must be bounded"),
        Crafted("png-itxt-10x20mb.png", png_file(**small, before_idat=itxt),
                "10 compressed iTXt (XMP) chunks of 20 MB each: metadata memory bomb before IDAT"),
        Crafted("png-iccp-200mb.png", png_file(**small, before_idat=iccp_big),
                "iCCP profile of 200 MB decompressed in ~200 KB: profile memory bomb"),
        Crafted("png-iccp-junk.png", png_file(**small, before_idat=iccp_junk),
                "iCCP with a valid header and junk tags: colour conversion must fail cleanly or ignore it"),
        Crafted("png-text-not-json.png", png_file(**small, before_idat=not_json),
                "tEXt/iTXt/eXIf with NaN, lone surrogate escapes, invalid UTF-8, control bytes: "
                "fm=json must stay JSON"),
        Crafted("png-65535x65535.png", png_file(65535, 65535, idat=huge),
                "PNG declaring 65535×65535 (4.3 Gpx) in a few KB: pixel limit from the header (413)", refuse=(413,)),
        Crafted("png-1x1-rgba-opaque.png", opaque_rgba, "issue 8: 1-pixel RGBA whose corner is opaque, with trim"),
        Crafted("png-1x1-palette.png", palette, "issue 8: 1-pixel palette PNG, with trim"),
        Crafted("png-palette-border.png", border, "issue 8: palette + tRNS PNG with a flat border, with trim"),
    ]


# --- GIF -------------------------------------------------------------------------------------

def gif_file(screen: tuple[int, int], frames: int, *, comment: bytes = b"") -> bytes:
    """An animated GIF of ``frames`` 1×1 frames on a ``screen`` logical screen."""
    out = [b"GIF89a", struct.pack("<HHBBB", screen[0], screen[1], 0x80, 0, 0), b"\x00\x00\x00\xff\xff\xff"]
    if comment:
        out.append(b"\x21\xfe" + b"".join(bytes([len(comment[i:i + 255])]) + comment[i:i + 255]
                                          for i in range(0, len(comment), 255)) + b"\x00")
    if frames > 1:
        out.append(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")
    for i in range(frames):
        out.append(b"\x21\xf9\x04\x04\x01\x00\x00\x00")  # graphic control: 10 ms, keep
        out.append(b"\x2c" + struct.pack("<HHHHB", i % screen[0], (i // screen[0]) % screen[1], 1, 1, 0))
        out.append(b"\x02\x02\x44\x01\x00")  # LZW min size 2: clear, index 0, end
    out.append(b"\x3b")
    return b"".join(out)


def _gif_cases() -> list[Crafted]:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="9" height="9"/></svg>'
    return [
        Crafted("gif-10000-frames.gif", gif_file((1, 1), 10_000),
                "GIF with 10,000 tiny frames (~180 KB): frame limit from the header (413)", refuse=(413,)),
        Crafted("gif-199-frames-2048.gif", gif_file((2048, 2048), 199),
                "199 frames (under the frame limit) on a 2048×2048 screen: 834 Mpx over all frames (413)",
                refuse=(413,)),
        Crafted("gif-1x1.gif", gif_file((1, 1), 1), "issue 8: 1-pixel GIF, with trim"),
        Crafted("gif-svg-polyglot.gif", gif_file((1, 1), 1, comment=svg),
                "valid GIF whose comment is an SVG of 100000×100000: sniffing must pick GIF"),
    ]


# --- TIFF ------------------------------------------------------------------------------------

def tiff_file(pages: list[dict[int, int]], *, loop: bool = False) -> bytes:
    """Little-endian TIFF; each page is {tag: value} (SHORT/LONG scalars). One shared data byte.

    Tags 273/324 (strip/tile offsets) get the data offset. ``loop``: the last IFD points back
    at the first.
    """
    data_offset = 8
    out = bytearray(b"II*\x00" + struct.pack("<I", 12) + b"\x80\x00\x00\x00")
    first = 12
    for n, tags in enumerate(pages):
        tags = {**tags, **{t: data_offset for t in (273, 324) if t in tags}}
        here = len(out)
        entries = sorted(tags.items())
        after = here + 2 + 12 * len(entries) + 4
        out += struct.pack("<H", len(entries))
        for tag, value in entries:
            kind = 3 if tag in (258, 259, 262, 277, 284) else 4
            out += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3
                                                         else struct.pack("<I", value))
        last = n == len(pages) - 1
        out += struct.pack("<I", (first if loop else 0) if last else after)
    return bytes(out)


def _strip(width: int, height: int) -> dict[int, int]:
    return {256: width, 257: height, 258: 8, 259: 1, 262: 1, 273: 0, 277: 1, 278: height, 279: 1}


def _tile(width: int, height: int, tile: int) -> dict[int, int]:
    return {256: width, 257: height, 258: 8, 259: 1, 262: 1, 277: 1, 322: tile, 323: tile, 324: 0, 325: 1}


def _tiff_cases() -> list[Crafted]:
    return [
        Crafted("tiff-2000-pages.tiff", tiff_file([_strip(1, 1)] * 2000),
                "TIFF with 2,000 pages of 1×1 (~230 KB): the frame limit from the header (413)", refuse=(413,)),
        Crafted("tiff-ifd-loop.tiff", tiff_file([_strip(1, 1)] * 3, loop=True),
                "TIFF whose IFD chain loops back to the first: must not hang"),
        Crafted("tiff-tile-8192-1-byte.tiff", tiff_file([_tile(8192, 8192, 8192)]),
                "8192×8192 TIFF, one 64 MB tile holding 1 byte of data: truncated, 422 (not a black picture)",
                refuse=(422,)),
        Crafted("tiff-tile-2e20.tiff", tiff_file([_tile(16, 16, 1 << 20)]),
                "TIFF with a 2^20×2^20 tile (1 TB tile buffer): refused cleanly", refuse=(422,)),
        Crafted("tiff-100000x100000.tiff", tiff_file([_strip(100_000, 100_000)]),
                "TIFF declaring 100000×100000 (10 Gpx) with one byte of data: pixel limit (413)", refuse=(413,)),
    ]


# --- JPEG ------------------------------------------------------------------------------------

def _base_jpeg(size: int = 64) -> bytes:
    """A small baseline JPEG without metadata, deterministic for a given libvips."""
    xy = pyvips.Image.xyz(size, size)
    image = ((xy[0] * 5 + xy[1] * 3) % 256).bandjoin([xy[0] * 4 % 256, xy[1] * 4 % 256]).cast("uchar")
    return image.copy(interpretation="srgb").jpegsave_buffer(Q=90, strip=True, optimize_coding=False,
                                                             subsample_mode="off")


def _segments(jpeg: bytes) -> int:
    """Offset of the SOF0 marker."""
    return jpeg.index(b"\xff\xc0")


def _with_size(jpeg: bytes, width: int, height: int) -> bytes:
    sof = _segments(jpeg)
    return jpeg[:sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9:]


def _insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _app(n: int, payload: bytes) -> bytes:
    return bytes([0xFF, 0xE0 + n]) + struct.pack(">H", len(payload) + 2) + payload


def _exif(entries: list[tuple[int, int, int, bytes]], *, next_ifd: int = 0) -> bytes:
    """Big-endian TIFF/EXIF block with one IFD at offset 8: (tag, type, count, 4-byte value)."""
    ifd = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHI", t, k, c) + v for t, k, c, v in entries)
    return b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + ifd + struct.pack(">I", next_ifd)


def _jpeg_cases() -> list[Crafted]:
    base = _base_jpeg()
    truncated = _with_size(base, 9000, 9000)[:803]
    sof_huge = _with_size(base, 65500, 65500)
    orient = lambda v: _exif([(0x0112, 3, 1, struct.pack(">HH", v, 0))])  # noqa: E731
    loop = _exif([(0x0112, 3, 1, struct.pack(">HH", 6, 0)), (0x8769, 4, 1, struct.pack(">I", 8))], next_ifd=8)
    absurd_count = _exif([(0x0112, 3, 0x3FFFFFFF, struct.pack(">I", 0x7FFFFFF0)),
                          (0x010E, 2, 0xFFFFFFFF, struct.pack(">I", 0xFFFFFF00))])
    filler = bytes(range(256)) * 255 + bytes(253)  # 65,533 bytes: the largest APP payload
    icc_chunks = [_app(2, b"ICC_PROFILE\x00" + bytes([i + 1, 255]) + _icc_header(255 * 60000)[:128]
                       + bytes(i for i in range(200))) for i in range(4)]
    com_svg = b'\xff\xfe' + struct.pack(">H", 120) + (b'<svg xmlns="http://www.w3.org/2000/svg" width="90000" '
                                                      b'height="90000"><rect width="9" height="9"/></svg>').ljust(118)
    return [
        Crafted("jpeg-truncated-sof-9000.jpg", truncated,
                "issue 11: 803-byte truncated JPEG whose SOF says 9000×9000: 422, not a grey 8192² image",
                refuse=(422,)),
        Crafted("jpeg-sof-65500.jpg", sof_huge,
                "JPEG whose SOF says 65500×65500 (4.3 Gpx) in 1 KB: pixel limit from the header (413)", refuse=(413,)),
        Crafted("jpeg-orientation-9.jpg", _insert_after_soi(base, _app(1, orient(9))),
                "EXIF orientation 9 (out of 1–8): ignored, not a crash"),
        Crafted("jpeg-orientation-65535.jpg", _insert_after_soi(base, _app(1, orient(65535))),
                "EXIF orientation 65535: ignored, not a crash"),
        Crafted("jpeg-exif-ifd-loop.jpg", _insert_after_soi(base, _app(1, loop)),
                "EXIF whose next-IFD and ExifIFD pointers loop back to IFD0: must not hang"),
        Crafted("jpeg-exif-absurd-counts.jpg", _insert_after_soi(base, _app(1, absurd_count)),
                "EXIF entries with counts of 2^30 and 2^32 pointing past the end"),
        Crafted("jpeg-app-6x64k.jpg", _insert_after_soi(base, *[_app(n, filler) for n in (1, 2, 13, 14, 15, 1)]),
                "six maximal 64 KB APP segments (APP1, ICC APP2, Photoshop APP13, …) of junk"),
        Crafted("jpeg-icc-chunks-missing.jpg", _insert_after_soi(base, *icc_chunks),
                "ICC_PROFILE split into '255' APP2 chunks, only 4 present, claiming 15 MB"),
        Crafted("jpeg-svg-comment-polyglot.jpg", base[:2] + com_svg + base[2:],
                "JPEG whose first segment is a COM holding an SVG of 90000×90000: sniffing must pick JPEG"),
        Crafted("jpeg-then-png.jpg", base + png_file(65535, 65535, idat=b""),
                "valid JPEG followed by a PNG header declaring 65535×65535 (two formats in one file)"),
    ]


# --- WebP ------------------------------------------------------------------------------------

def _riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _webp_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def _vp8l_1x1() -> bytes:
    """The VP8L chunk payload of a lossless 1×1 WebP made by libwebp."""
    webp = pyvips.Image.black(1, 1, bands=3).cast("uchar").webpsave_buffer(lossless=True, strip=True)
    at = webp.index(b"VP8L")
    size = struct.unpack("<I", webp[at + 4:at + 8])[0]
    return webp[at + 8:at + 8 + size]


def _u24(v: int) -> bytes:
    return struct.pack("<I", v)[:3]


def _animated_webp(canvas: int, frames: int, frame: bytes) -> bytes:
    vp8x = _webp_chunk(b"VP8X", b"\x02\x00\x00\x00" + _u24(canvas - 1) + _u24(canvas - 1))
    anim = _webp_chunk(b"ANIM", b"\x00\x00\x00\x00" + b"\x00\x00")
    anmf = _webp_chunk(b"ANMF", _u24(0) + _u24(0) + _u24(0) + _u24(0) + _u24(10) + b"\x00"
                       + _webp_chunk(b"VP8L", frame))
    return _riff(vp8x + anim + anmf * frames)


def _webp_cases() -> list[Crafted]:
    frame = _vp8l_1x1()
    still = _riff(_webp_chunk(b"VP8X", b"\x00\x00\x00\x00" + _u24(16383) + _u24(16383)) + _webp_chunk(b"VP8L", frame))
    return [
        Crafted("webp-anim-65535.webp", _animated_webp(65535, 1, frame),
                "animated WebP whose canvas is 65535×65535 with one 1×1 frame: refused (libwebp caps a side "
                "at 16383)", refuse=(413, 422)),
        Crafted("webp-anim-16383.webp", _animated_webp(16383, 1, frame),
                "animated WebP, canvas 16383×16383 (268 Mpx, the largest libwebp takes) with one 1×1 frame (413)",
                refuse=(413,)),
        Crafted("webp-anim-10000-frames.webp", _animated_webp(1, 10_000, frame),
                "animated WebP with 10,000 1×1 frames (~300 KB): frame limit (413)", refuse=(413,)),
        Crafted("webp-vp8x-16384-vs-1x1.webp", still,
                "VP8X canvas 16384×16384 around a 1×1 bitstream: mismatch refused cleanly (422)", refuse=(422,)),
    ]


# --- SVG -------------------------------------------------------------------------------------

SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def _white(body: str, size: int = 100, prolog: str = "") -> bytes:
    return (f'{prolog}<svg {SVG_NS} width="{size}" height="{size}"><rect width="{size}" height="{size}" fill="#fff"/>'
            f"{body}</svg>").encode()


def _svg_cases(canary: Canary) -> list[Crafted]:
    blur = (b'<svg xmlns="http://www.w3.org/2000/svg" width="8000" height="8000"><filter id="f">'
            b'<feGaussianBlur stdDeviation="5000"/></filter><rect width="8000" height="8000" filter="url(#f)"/></svg>')
    laughs = "".join(f'<g id="l{i}">' + f'<use href="#l{i - 1}"/>' * 10 + "</g>" for i in range(1, 10))
    entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10))
    png_url, xml_url = canary.png.as_uri(), canary.xml.as_uri()
    http = canary.url
    return [
        Crafted("svg-blur-8000.svg", blur,
                "issue 7: 196-byte SVG 8000×8000 with feGaussianBlur stdDeviation=5000: within the processing limit"),
        Crafted("svg-turbulence-4000.svg", _white(
            '<filter id="t"><feTurbulence baseFrequency="0.9" numOctaves="1000"/></filter>'
            '<rect width="4000" height="4000" filter="url(#t)"/>', 4000),
                "4000×4000 feTurbulence with numOctaves=1000: CPU bomb within the processing limit"),
        Crafted("svg-100000x100000.svg", _white("", 100_000),
                "SVG declaring 100000×100000 (10 Gpx): pixel limit from the header (413)", refuse=(413,)),
        Crafted("svg-use-billion-laughs.svg", _white(f'<defs><rect id="l0" width="1" height="1"/>{laughs}</defs>'
                                                     '<use href="#l9"/>'),
                "nested <use> 10 deep × 10 wide = 10^9 rectangles: refused or bounded"),
        Crafted("svg-entity-bomb.svg", _white("<text y='50'>&e9;</text>",
                                              prolog=f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY e0 "lol">'
                                                     f"{entities}]>"),
                "XML entity expansion bomb (10^9 'lol'): refused or bounded"),
        Crafted("svg-deep-nesting.svg", _white("<g>" * 40_000 + "</g>" * 40_000),
                "40,000 nested <g> elements: no stack overflow"),
        Crafted("svg-href-file.svg", _white(
            f'<image href="{png_url}" width="100" height="100"/>'
            f'<image xlink:href="{png_url}" width="100" height="100"/>'
            f'<image href="file:///etc/passwd" width="100" height="100"/>'
            f'<use href="{png_url}#x"/>'), leaks=True,
                attacks="<image href> / xlink:href to file:// (a red canary PNG, /etc/passwd): never read"),
        Crafted("svg-href-http.svg", _white(
            f'<image href="{http}/image.png" width="100" height="100"/>'
            f'<image xlink:href="{http}/xlink.png" width="100" height="100"/>'
            '<image href="http://169.254.169.254/latest/meta-data/" width="100" height="100"/>'
            f'<filter id="f"><feImage href="{http}/feimage.png"/></filter><rect width="9" height="9" filter="url(#f)"/>'
            f'<use href="{http}/use.svg#a"/>'), leaks=True,
                attacks="<image>/<feImage>/<use> href to http:// (the test's canary URL, 169.254.169.254): "
                        "never fetched"),
        Crafted("svg-css-import.svg", _white(
            f'<style>@import url("{http}/import.css"); rect {{ fill: url("{http}/fill.svg#p") }}</style>'
            f'<rect x="10" y="10" width="10" height="10" style="fill:url({http}/style.svg#p)"/>'), leaks=True,
                attacks="CSS @import and url() to http://: never fetched"),
        Crafted("svg-xxe.svg", _white(
            '<text y="50">&pw;</text>&canary;',
            prolog=f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY pw SYSTEM "file:///etc/passwd">'
                   f'<!ENTITY canary SYSTEM "{xml_url}"><!ENTITY remote SYSTEM "{http}/xxe.xml">]>'), leaks=True,
                attacks="XML external entities (file:///etc/passwd, a black-rect canary file, http://): "
                        "never resolved"),
        Crafted("svg-xinclude.svg", _white(
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{xml_url}" parse="xml"/>'
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{http}/xinclude.xml" parse="xml"/>'),
                leaks=True, attacks="XInclude of a local canary file and of http://: never resolved"),
    ]


def _field_library_cases() -> list[Crafted]:
    """HEIC, PDF, JPEG XL, BMP and ICO (``attacks_formats``: issue 14)."""
    from tests.support.attacks_formats import crafted_formats

    return [Crafted(name, data, attacks, refuse=refuse) for name, data, attacks, refuse in crafted_formats()]


def crafted(canary: Canary) -> list[Crafted]:
    """Every crafted file, in a fixed order; same bytes on every run for a given canary."""
    return (_png_cases() + _gif_cases() + _tiff_cases() + _jpeg_cases() + _webp_cases() + _svg_cases(canary)
            + _field_library_cases())
