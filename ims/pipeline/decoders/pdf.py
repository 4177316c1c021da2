"""PDF with pypdfium2 (PDFium, Chrome's PDF engine).

Opening a document reads its cross-reference table, not its pages: the page count
and the size of one page (``FPDF_GetPageSizeByIndexF``: the crop box, in points,
turned by the page's ``/Rotate``) come without rendering anything, so a document of
10,000 pages costs only the page it renders. The header's size is the page at one
pixel per point (72 dpi), which is what the limits are checked on; ``decode``
renders at ``scale`` pixels per point — the scale the plan needs (``pipeline``
picks it as for SVG), never a fixed DPI. Pages are drawn on white, with forms and
annotations, like a viewer. PDFium is not thread-safe: it runs only in the pixel
pool's child processes, one render at a time.
"""

from __future__ import annotations

import math

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pyvips

from ims.errors import InvalidParameter, NotAnImage
from ims.pipeline.decoders import Header


def probe(data: bytes, fmt: str, page: int = 1) -> Header:
    document = _open(data)
    try:
        pages = len(document)
        if page > pages:
            raise InvalidParameter(f"page must be at most {pages}: this PDF has {pages} "
                                   f"page{'s' if pages != 1 else ''}, got {page}", field="page")
        try:
            width, height = document.get_page_size(page - 1)
        except pdfium.PdfiumError as e:
            raise NotAnImage(_why(e)) from None
        if not (math.isfinite(width) and math.isfinite(height)) or width <= 0 or height <= 0:
            raise NotAnImage(_why(f"page {page} has an empty or invalid page box"))
        return Header(format="pdf", width=max(1, round(width)), height=max(1, round(height)),
                      pages=pages)
    finally:
        document.close()


def decode(data: bytes, header: Header, page: int = 1, scale: float | None = None) -> pyvips.Image:
    document = _open(data)
    try:
        pdf_page = document[page - 1]
        bitmap = pdf_page.render(scale=scale or 1.0, fill_color=(255, 255, 255, 255), may_draw_forms=True,
                                 draw_annots=True, force_bitmap_format=pdfium_c.FPDFBitmap_BGRA,
                                 rev_byteorder=True)
        width, height, stride = bitmap.width, bitmap.height, bitmap.stride
        pixels = bytes(bitmap.buffer)
        bitmap.close()
        pdf_page.close()
    except pdfium.PdfiumError as e:
        raise NotAnImage(_why(e)) from None
    finally:
        document.close()
    image = pyvips.Image.new_from_memory(pixels, stride // 4, height, 4, "uchar")
    return image.crop(0, 0, width, height)[:3].copy(interpretation="srgb")


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise NotAnImage(_why(e)) from None


def _why(error: object) -> str:
    return f"The source object is not a decodable image: PDF: {str(error).strip() or 'unreadable'}"
