"""The README's parameter table, generated from ``ims.params.TABLE``.

    python -m ims.paramdoc            print the table (markdown)
    python -m ims.paramdoc --write    rewrite it in README.md, between the markers

The table sits between ``<!-- params:begin -->`` and ``<!-- params:end -->``; a test
fails when README.md differs from what this prints, so a new row in ``TABLE`` (its
``allowed`` and ``differs`` texts, and a few words in ``MEANING``) reaches the README
with one command.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ims.params import TABLE

# What each parameter does, in a few words (a name missing here gets an empty cell).
MEANING = {
    "ar": "output aspect ratio, with fit=crop",
    "page": "the PDF page rendered (default 1); past the end: 400 with the page count",
    "auto": "format: JPEG XL (only when Accept names image/jxl), else AVIF, else WebP, from Accept; compress: lower default quality, no metadata",
    "bg": "background for padding, canvases and flattened alpha",
    "blur": "gaussian blur (sigma = blur/10 px)",
    "border": "border of that width and colour around the image",
    "border-bottom": "bottom border width", "border-left": "left border width",
    "border-right": "right border width", "border-top": "top border width",
    "border-radius": "rounds the outer corners", "border-radius-inner": "rounds the image's corners inside the border",
    "bri": "brightness", "con": "contrast", "sat": "saturation", "gam": "gamma",
    "ch": "client hints to honour", "chromasub": "JPEG chroma subsampling",
    "colorquant": "at most this many colours", "corner-radius": "radius for mask=corners",
    "crop": "crop chain for fit=crop/min: modes tried in order, then anchors",
    "cs": "output colour space / ICC profile", "dl": "download as attachment with this name",
    "dpi": "resolution written into the file", "dpr": "device pixel ratio: multiplies w and h",
    "duotone": "maps shadows and highlights to two colours", "duotone-alpha": "strength of duotone",
    "exif": "fm=json: adds the camera record (gps: also the position)",
    "exp": "exposure", "fill": "what fills the space of fit=fill/fillmax",
    "face-blur": "blurs each face", "face-pixel": "pixellates each face",
    "faceindex": "the face fit=facearea frames (left to right)",
    "facepad": "fit=facearea: the face box times this", "faces": "fm=json: adds the face boxes",
    "fill-color": "colour for fill=solid", "fill-gradient-cs": "colour space the gradient is mixed in",
    "fill-gradient-linear": "colours of a linear gradient", "fill-gradient-linear-direction": "where the linear gradient goes",
    "fill-gradient-radial": "colours of a radial gradient", "fill-gradient-radial-radius": "inner and outer radius",
    "fill-gradient-radial-x": "centre of the radial gradient, across", "fill-gradient-radial-y": "centre of the radial gradient, down",
    "fill-gradient-type": "linear or radial gradient",
    "fit": "how the w×h box is used (clip, crop, facearea, fill, … see below)", "flip": "mirror",
    "fm": "output format", "fp-x": "focal point, across (crop=focalpoint)",
    "fp-y": "focal point, down (crop=focalpoint)", "fp-z": "zoom on the focal point",
    "h": "output height", "high": "highlights", "hue": "hue shift", "invert": "negative",
    "jpg-progressive": "progressive JPEG", "lossless": "lossless webp/avif/jxl",
    "mask": "ellipse or rounded-corner mask", "mask-bg": "colour behind the mask",
    "max-h": "height at most (fit=crop)", "max-w": "width at most (fit=crop)",
    "min-h": "height at least (fit=crop)", "min-w": "width at least (fit=crop)",
    "monochrome": "tinted greyscale", "nr": "noise reduction", "nrs": "noise reduction edge threshold",
    "orient": "overrides the EXIF orientation", "pad": "padding on every side",
    "pad-bottom": "bottom padding", "pad-left": "left padding", "pad-right": "right padding",
    "pad-top": "top padding", "palette": "answers with the output's colours (JSON or CSS)",
    "colors": "palette size", "prefix": "CSS class prefix for palette=css",
    "px": "pixellate", "q": "quality of lossy formats (default 75)",
    "rect": "source rectangle, cut first", "rot": "rotation clockwise", "sepia": "sepia tone",
    "shad": "shadows", "sharp": "sharpen", "trim": "cut flat borders", "trim-color": "border colour for trim=color",
    "usm": "unsharp mask amount", "usmrad": "unsharp mask radius", "vib": "vibrance",
    "w": "output width",
    "mark": "watermark image drawn over the output (mark64: base64url)",
    "mark-align": "where the watermark goes (default bottom,right)", "mark-alpha": "watermark opacity",
    "mark-fit": "how the watermark fits mark-w × mark-h", "mark-h": "watermark height", "mark-w": "watermark width",
    "mark-if-min-height": "draw the watermark only on outputs at least this high",
    "mark-if-min-width": "draw the watermark only on outputs at least this wide",
    "mark-pad": "watermark distance from the edges (default 5)", "mark-rot": "watermark rotation clockwise",
    "mark-scale": "watermark width as a percentage of the output's", "mark-tile": "repeat the watermark over the output",
    "mark-x": "watermark position across", "mark-y": "watermark position down",
    "blend": "colour or image blended over the output (blend64: base64url)",
    "blend-align": "where the blend image goes (default middle,center)", "blend-alpha": "blend opacity",
    "blend-color": "colour blended (replaces blend)", "blend-crop": "anchors for blend-fit=crop and blend-size",
    "blend-fit": "how the blend image fits blend-w × blend-h", "blend-h": "blend image height",
    "blend-w": "blend image width", "blend-mode": "how the colours mix (default overlay)",
    "blend-pad": "blend image distance from the edges", "blend-size": "inherit: the blend image covers the output",
    "blend-x": "blend image position across", "blend-y": "blend image position down",
    # text and halftone
    "htn": "halftone (dot screen cell size)",
    "txt": "a caption drawn on the image (see Text; txt64: base64url)",
    "txt-align": "where the caption goes (default bottom,right)",
    "txt-clip": "where a line too long is cut (default end)", "txt-color": "text colour (default black)",
    "txt-fit": "max: shrink the font instead of clipping", "txt-font": "font (default sans-serif; txt-font64: base64url)",
    "txt-lead": "extra space between lines",
    "txt-line": "outline width", "txt-line-color": "outline colour (default white)",
    "txt-pad": "distance from the edges (default 10)", "txt-shad": "shadow softness",
    "txt-size": "font size (default 12)", "txt-track": "extra space between letters",
    "txt-width": "width the text must fit", "txt-x": "left edge of the text (overrides txt-align)",
    "txt-y": "top edge of the text (overrides txt-align)",
}

BEGIN = "<!-- params:begin -->"
END = "<!-- params:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def table() -> str:
    """One row per parameter, in the table's (alphabetical) order."""
    lines = [
        "| param | aliases | what it does | values | differs from imgix |",
        "|---|---|---|---|---|",
    ]
    for param in TABLE:
        aliases = ", ".join(f"`{a}`" for a in (*param.aliases, *((param.name + "64",) if param.base64 else ())))
        meaning = MEANING.get(param.name, "")
        lines.append(f"| `{param.name}` | {aliases} | {_cell(meaning)} | {_cell(param.allowed)} "
                     f"| {_cell(param.differs)} |")
    return "\n".join(lines) + "\n"


def replace(text: str) -> str:
    """``text`` with the part between the markers replaced by ``table()``."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"README.md has no {BEGIN} … {END} markers")
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        README.write_text(replace(README.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
