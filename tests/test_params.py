"""ims.params: the parameter table, its errors, and the canonical form."""

from __future__ import annotations


from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.errors import InvalidParameter
from ims.params import TABLE, Params, parse


def q(query: str) -> Params:
    return parse(parse_qsl(query, keep_blank_values=True))


def error(items) -> InvalidParameter:
    if isinstance(items, str):
        items = parse_qsl(items, keep_blank_values=True)
    with pytest.raises(InvalidParameter) as info:
        parse(items)
    return info.value


# ---------------------------------------------------------------------------
# Valid values


def test_empty_query_gives_defaults():
    assert q("") == Params()
    assert parse({}) == Params()


@pytest.mark.parametrize(
    "query, expected",
    [
        ("w=300", {"w": 300}),
        ("w=300.0", {"w": 300}),
        ("w=0.5", {"w": 0.5}),
        ("h=1", {"h": 1}),
        ("h=8192", {"h": 8192}),
        ("fit=crop&crop=left,top", {"fit": "crop", "crop": ("top", "left")}),
        ("crop=bottom,right", {"crop": ("bottom", "right")}),
        ("crop=top,top", {"crop": ("top",)}),
        ("crop=edges", {"crop": ("edges",)}),
        ("crop=FocalPoint&fp-x=0&fp-y=1", {"crop": ("focalpoint",), "fp_x": 0.0, "fp_y": 1.0}),
        ("ar=16:9", {"ar": (16.0, 9.0)}),
        ("ar=0.85:1", {"ar": (0.85, 1.0)}),
        ("max-w=100&max-h=200&min-w=10&min-h=20", {"max_w": 100, "max_h": 200, "min_w": 10, "min_h": 20}),
        ("rect=10,20,300,400", {"rect": (10, 20, 300, 400)}),
        ("rect=0.1,0.2,0.5,0.75", {"rect": (0.1, 0.2, 0.5, 0.75)}),
        ("rect=0,0.5,100,0.5", {"rect": (0, 0.5, 100, 0.5)}),
        ("dpr=2", {"dpr": 2.0}),
        ("dpr=0.75", {"dpr": 0.75}),
        ("dpr=5", {"dpr": 5.0}),
        ("fm=jpeg", {"fm": "jpg"}),
        ("fm=tif", {"fm": "tiff"}),
        ("fm=PNG", {"fm": "png"}),
        ("fm=json", {"fm": "json"}),
        ("auto=format,compress", {"auto": frozenset({"format", "compress"})}),
        ("auto=compress&auto=format", {"auto": frozenset({"format", "compress"})}),
        ("auto=format,", {"auto": frozenset({"format"})}),
        ("q=1", {"q": 1}),
        ("q=100", {"q": 100}),
        ("lossless=1", {"lossless": True}),
        ("lossless=true", {"lossless": True}),
        ("lossless=0", {"lossless": False}),
        ("bg=fff", {"bg": (255, 255, 255, 255)}),
        ("bg=8f00", {"bg": (255, 0, 0, 0x88)}),
        ("bg=FF8800", {"bg": (255, 0x88, 0, 255)}),
        ("bg=80ff0000", {"bg": (255, 0, 0, 0x80)}),
        ("bg=%23102030", {"bg": (0x10, 0x20, 0x30, 255)}),
        ("pad=0", {"pad": 0}),
        ("pad=20", {"pad": 20}),
        ("page=3", {"page": 3}),
        ("fm=jxl", {"fm": "jxl"}),
        ("rot=0&flip=hv", {"rot": 0, "flip": "hv"}),
        ("rot=359&flip=vh", {"rot": 359, "flip": "hv"}),
        ("orient=8", {"orient": 8}),
        ("orient=270", {"orient": 270}),
        ("blur=2000&sharp=100", {"blur": 2000.0, "sharp": 100.0}),
        ("bri=-100&con=100&sat=-50.5&gam=3", {"bri": -100.0, "con": 100.0, "sat": -50.5, "gam": 3.0}),
        ("trim=color&trim-color=000", {"trim": "color", "trim_color": (0, 0, 0, 255)}),
        ("trim=auto", {"trim": "auto"}),
        ("cs=strip", {"cs": "strip"}),
        ("cs=origin", {"cs": "origin"}),
        ("cs=tinysrgb", {"cs": "srgb"}),
        ("dl=photo%20%C3%A9t%C3%A9.jpg", {"dl": "photo été.jpg"}),
        ("fit=fillmax", {"fit": "fillmax"}),
    ],
)
def test_valid_values(query, expected):
    assert q(query) == Params(**expected)


def test_aliases_fill_the_same_fields():
    assert q("width=300&height=200&quality=60&format=webp") == Params(w=300, h=200, q=60, fm="webp")


def test_json_values():
    p = parse({"w": 1600, "h": 1600.0, "dpr": 2, "lossless": True, "q": 80, "fp-x": 0})
    assert p == Params(w=1600, h=1600, dpr=2.0, lossless=True, q=80, fp_x=0.0)
    assert parse({"lossless": False}) == Params()
    assert parse({"lossless": 1}) == Params(lossless=True)


def test_json_arrays_for_list_parameters():
    p = parse({"auto": ["format", "compress"], "crop": ["top"], "rect": [0, 0, 10, 0.5], "ar": [4, 3]})
    assert p == Params(auto=frozenset({"format", "compress"}), crop=("top",), rect=(0, 0, 10, 0.5), ar=(4.0, 3.0))


def test_pixel_values_are_ints_and_fractions_floats():
    assert type(q("w=300.0").w) is int
    assert type(parse({"w": 300.0}).w) is int
    assert type(q("w=0.25").w) is float


# ---------------------------------------------------------------------------
# Errors: every one names the parameter as written and says what is allowed


@pytest.mark.parametrize(
    "query, field, fragment",
    [
        ("w=abc", "w", "w must be an integer 1–8192 or a fraction between 0 and 1, got 'abc'"),
        ("w=", "w", "w must be an integer 1–8192"),
        ("w=0", "w", "got '0'"),
        ("w=8193", "w", "1–8192"),
        ("w=1.5", "w", "fraction between 0 and 1"),
        ("w=-3", "w", "1–8192"),
        ("w=nan", "w", "got 'nan'"),
        ("w=inf", "w", "got 'inf'"),
        ("w=1e999", "w", "1–8192"),
        ("w= 300", "w", "1–8192"),
        ("width=abc", "width", "width must be an integer 1–8192"),
        ("h=0.0", "h", "h must be"),
        ("fit=cover", "fit", "fit must be one of clamp, clip, crop, facearea, fill, fillmax, max, min, scale, got 'cover'"),
        ("fit=", "fit", "fit must be one of"),
        ("crop=middle", "crop", "top, bottom, left, right"),
        ("crop=top,bottom", "crop", "cannot combine top and bottom"),
        ("crop=left,right", "crop", "cannot combine left and right"),
        ("crop=faces,middle", "crop", "faces, entropy, edges, focalpoint"),
        ("crop=faces,top,bottom", "crop", "cannot combine top and bottom"),
        ("crop=", "crop", "crop must be"),
        ("fp-x=1.5", "fp-x", "fp-x must be a number 0–1, got '1.5'"),
        ("fp-y=-0.1", "fp-y", "fp-y must be a number 0–1"),
        ("ar=16", "ar", "ar must be W:H"),
        ("ar=16:0", "ar", "W:H"),
        ("ar=-1:2", "ar", "W:H"),
        ("ar=a:b", "ar", "W:H"),
        ("ar=1:2:3", "ar", "W:H"),
        ("max-w=0", "max-w", "max-w must be an integer 1–8192"),
        ("min-h=1.5", "min-h", "min-h must be an integer 1–8192"),
        ("rect=1,2,3", "rect", "rect must be x,y,w,h"),
        ("rect=0,0,0,10", "rect", "rect must be x,y,w,h"),
        ("rect=0,0,1.5,10", "rect", "fraction between 0 and 1"),
        ("rect=-1,0,10,10", "rect", "rect must be"),
        ("dpr=0", "dpr", "dpr must be a number greater than 0 and at most 5, got '0'"),
        ("dpr=5.01", "dpr", "at most 5"),
        ("fm=bmp", "fm", "fm must be one of jpg, pjpg, png, png8, png32, webp, avif, jxl, gif, tiff, json, blurhash, got 'bmp'"),
        ("page=0", "page", "page must be an integer 1–1,000,000 (pages count from 1), got '0'"),
        ("page=-2", "page", "page must be an integer 1–1,000,000 (pages count from 1), got '-2'"),
        ("page=1.5", "page", "page must be an integer 1–1,000,000 (pages count from 1), got '1.5'"),
        ("page=1000001", "page", "page must be an integer 1–1,000,000 (pages count from 1), got '1000001'"),
        ("fm=mp4", "fm", "fm=mp4 is not supported"),
        ("format=bmp", "format", "format must be one of jpg"),
        ("auto=enhance", "auto", "auto=enhance is not supported"),
        ("auto=format,redeye", "auto", "auto=redeye is not supported"),
        ("auto=fast", "auto", "auto must be a comma list of format, compress, got 'fast'"),
        ("auto=", "auto", "auto must be"),
        ("q=-1", "q", "q must be an integer 0–100, got '-1'"),
        ("q=101", "q", "0–100"),
        ("q=75.5", "q", "0–100"),
        ("quality=x", "quality", "quality must be an integer 0–100"),
        ("lossless=yes", "lossless", "lossless must be 0, 1, true or false, got 'yes'"),
        ("lossless=2", "lossless", "0, 1, true or false"),
        ("bg=ff", "bg", "bg must be a hex colour RGB, ARGB, RRGGBB or AARRGGBB"),
        ("bg=ggg", "bg", "hex colour"),
        ("bg=12345", "bg", "hex colour"),
        ("bg=reddish", "bg", "or a CSS colour keyword, got 'reddish'"),
        ("bg=imgixblue", "bg", "CSS colour keyword"),
        ("trim-color=1234567", "trim-color", "trim-color must be a hex colour"),
        ("pad=-1", "pad", "pad must be an integer 0–8192"),
        ("pad=8193", "pad", "0–8192"),
        ("rot=360", "rot", "rot must be a number of degrees, at least 0 and below 360, got '360'"),
        ("rot=-0.5", "rot", "below 360"),
        ("flip=x", "flip", "flip must be one of h, v, hv"),
        ("orient=9", "orient", "orient must be one of 0–8, 90, 180, 270, got '9'"),
        ("orient=-1", "orient", "0–8, 90, 180, 270"),
        ("blur=2001", "blur", "blur must be a number 0–2000"),
        ("sharp=-1", "sharp", "sharp must be a number 0–100"),
        ("bri=101", "bri", "bri must be a number from -100 to 100"),
        ("con=-101", "con", "-100 to 100"),
        ("sat=x", "sat", "-100 to 100"),
        ("gam=200", "gam", "-100 to 100"),
        ("trim=edges", "trim", "trim must be one of auto, color"),
        ("cs=cmyk", "cs", "cs must be one of srgb, tinysrgb, adobergb1998, origin, strip"),
        ("dl=a/b.jpg", "dl", "dl must be a file name of at most 255 bytes without /, \\ or control characters"),
        ("dl=a%5Cb.jpg", "dl", "without /, \\"),
        ("dl=a%0Ab.jpg", "dl", "control characters"),
        ("dl=a%00b.jpg", "dl", "control characters"),
        ("dl=..", "dl", "file name"),
        ("dl=", "dl", "file name"),
        ("dl=" + "é" * 128, "dl", "255 bytes"),
        ("min-w=500&max-w=300", "min-w", "min-w must not be larger than max-w, got 500 > 300"),
        ("max-h=10&min-h=11", "min-h", "min-h must not be larger than max-h"),
        # issue 12: the imgix vocabulary
        ("ch=Viewport-Width", "ch", "ch must be a comma list of Width, DPR, Save-Data"),
        ("fp-z=0.5", "fp-z", "fp-z must be a number 1–100"),
        ("pad-left=-1", "pad-left", "pad-left must be an integer 0–8192 (pixels)"),
        ("border=10", "border", "border must be width,colour"),
        ("border=0,fff", "border", "an integer 1–1000"),
        ("border=10,nocolour", "border", "width,colour"),
        ("border-top=5", "border-top", "border-top needs border=width,colour"),
        ("border=1,000&border-left=1001", "border-left", "border-left must be an integer 0–1000"),
        ("border-radius=1,2,3", "border-radius", "or four: top-left,top-right,bottom-right,bottom-left"),
        ("border-radius-inner=-4", "border-radius-inner", "one radius in pixels"),
        ("corner-radius=x", "corner-radius", "one radius in pixels"),
        ("mask=circle", "mask", "mask must be one of ellipse, corners, got 'circle'"),
        ("mask-bg=12345", "mask-bg", "mask-bg must be a hex colour"),
        ("fill=pattern", "fill", "fill must be one of solid, blur, gradient"),
        ("fill-color=ggg", "fill-color", "fill-color must be a hex colour"),
        ("fillcolor=ggg", "fillcolor", "fillcolor must be a hex colour"),
        ("fill-gradient-type=conic", "fill-gradient-type", "one of linear, radial"),
        ("fill-gradient-linear=red", "fill-gradient-linear", "two colours separated by a comma"),
        ("fill-gradient-linear-direction=top,bottom", "fill-gradient-linear-direction",
         "cannot combine opposite directions"),
        ("fill-gradient-linear-direction=up", "fill-gradient-linear-direction", "one or two of top"),
        ("fill-gradient-radial-radius=5", "fill-gradient-radial-radius", "two integers 0–8192"),
        ("fill-gradient-radial-x=2", "fill-gradient-radial-x", "a number 0–1"),
        ("fill-gradient-cs=cmyk", "fill-gradient-cs", "linear, srgb, oklab, hsl, lch"),
        ("exp=101", "exp", "exp must be a number from -100 to 100"),
        ("high=x", "high", "-100 to 100"),
        ("shad=-101", "shad", "-100 to 100"),
        ("vib=1000", "vib", "-100 to 100"),
        ("hue=400", "hue", "hue must be a number of degrees from -360 to 360"),
        ("invert=maybe", "invert", "invert must be 0, 1, true or false"),
        ("inv=2", "inv", "inv must be 0, 1, true or false"),
        ("usm=200", "usm", "-100 to 100"),
        ("usmrad=-1", "usmrad", "usmrad must be a number 0–500"),
        ("nr=x", "nr", "-100 to 100"),
        ("nrs=101", "nrs", "-100 to 100"),
        ("px=101", "px", "px must be an integer 0–100"),
        ("px=2.5", "px", "an integer 0–100"),
        ("monochrome=zz", "monochrome", "monochrome must be a hex colour"),
        ("mono=zz", "mono", "mono must be a hex colour"),
        ("sepia=101", "sepia", "sepia must be a number 0–100"),
        ("duotone=000", "duotone", "two colours separated by a comma"),
        ("duotone-alpha=101", "duotone-alpha", "an integer 0–100"),
        ("colorquant=1", "colorquant", "colorquant must be an integer 2–256"),
        ("dpi=0", "dpi", "dpi must be an integer 1–10000"),
        ("chromasub=411", "chromasub", "chromasub must be one of 444, 422, 420, got '411'"),
        ("jpg-progressive=yes", "jpg-progressive", "0, 1, true or false"),
        ("rect=middle,0,10,10", "rect", "x may be left, center or right"),
        ("rect=0,center,10,10", "rect", "y top, middle or bottom"),
        ("fm=jp2", "fm", "fm=jp2 is not supported"),
    ],
)
def test_bad_values(query, field, fragment):
    err = error(query)
    assert err.field == field
    assert fragment in err.message
    assert err.status == 400 and err.code == "invalid_parameter"
    assert err.envelope()["errors"] == [{"field": field, "message": err.message}]


def test_file_name_limit_is_bytes_not_characters():
    assert q("dl=" + "a" * 255).dl == "a" * 255
    assert parse({"dl": "é" * 127}).dl == "é" * 127
    error({"dl": "a" * 256})


def test_unknown_parameter_suggests_the_closest_name():
    err = error("wdth=300")
    assert err.field == "wdth"
    assert err.message.startswith("unknown parameter 'wdth' (did you mean 'width'?); allowed: ar, auto, bg, ")
    assert "usmrad, vib, w" in err.message


def test_unknown_parameter_without_a_close_name():
    err = error("zzzzzz=1")
    assert err.message.startswith("unknown parameter 'zzzzzz'; allowed: ar, auto")


def test_names_are_case_sensitive_but_suggested():
    assert "did you mean 'w'" in error("W=3").message


def test_unsupported_imgix_parameters_say_so():
    err = error("fp-debug=1")
    assert err.field == "fp-debug"
    assert "'fp-debug' (imgix) is not supported" in err.message


@pytest.mark.parametrize("name, imgix", [("txtlig", "txt-lig"), ("mb", "mark-base"), ("markbase", "mark-base")])
def test_aliases_of_unsupported_imgix_parameters_name_the_parameter(name, imgix):
    err = error({name: "x"})
    assert err.field == name
    assert f"'{name}' (imgix's alias of '{imgix}') is not supported" in err.message


@pytest.mark.parametrize("name", ["fp-debug", "txt-lig", "mark-base", "mask-bg-x"])
def test_imgix_features_left_out_are_a_clear_400(name):
    err = error({name: "1"})
    assert err.status == 400
    assert "not supported" in err.message or "unknown parameter" in err.message


@pytest.mark.parametrize("name", ["s", "expires"])
def test_signing_parameters_are_not_image_parameters(name):
    err = error({name: "x"})
    assert err.field == name
    assert "URL-signing parameter" in err.message


def test_repeated_names_are_errors():
    err = error("w=300&w=400")
    assert err.field == "w"
    assert err.message == "w is given more than once; give it once"


def test_alias_and_name_together_are_a_repeat():
    err = error("w=300&width=300")
    assert err.field == "width"
    assert "as 'w' and 'width'" in err.message


BOOLEANS = ("exif", "faces", "invert", "jpg-progressive", "lossless")


@pytest.mark.parametrize("name", [p.name for p in TABLE if p.name not in BOOLEANS])
def test_booleans_only_for_on_off_parameters(name):
    err = error({name: True})
    assert err.field == name
    assert "got True" in err.message


@pytest.mark.parametrize("value", [None, {"a": 1}, [1, 2]])
def test_non_scalar_json_values_are_errors(value):
    assert error({"w": value}).field == "w"


def test_huge_values_are_shortened_in_messages():
    err = error({"w": "9" * 10_000})
    assert len(err.message) < 200


def test_huge_json_integer():
    assert error({"w": 10**400}).field == "w"


# ---------------------------------------------------------------------------
# canonical


def test_canonical_examples():
    assert Params().canonical() == ""
    p = q("w=300.0&h=0.5&fit=crop&crop=left,top&auto=format&auto=compress&bg=F00&dl=a b.jpg&rect=0,0.25,100,0.5")
    assert p.canonical() == (
        "auto=compress,format&bg=ffff0000&crop=top,left&dl=a%20b.jpg&fit=crop&h=0.5"
        "&rect=0,0.25,100,0.5&w=300"
    )


def test_canonical_drops_defaults():
    assert q("fit=clip&dpr=1&pad=0&fp-x=0.5&cs=srgb&lossless=0&rot=0&blur=0").canonical() == ""


def test_canonical_keeps_explicit_quality_and_orientation():
    assert q("q=75&orient=1").canonical() == "orient=1&q=75"


@pytest.mark.parametrize(
    "a, b",
    [
        ("w=300", "w=300.0"),
        ("w=300", {"w": 300}),
        ("w=300", {"width": 300.0}),
        ("auto=format,compress", "auto=compress&auto=format"),
        ("auto=format,compress", {"auto": ["compress", "format", "format"]}),
        ("fm=jpg", "format=JPEG"),
        ("bg=fff", "bg=FFFFFFFF"),
        ("bg=fff", {"bg": "#ffffff"}),
        ("dpr=2", {"dpr": 2}),
        ("crop=top,left", "crop=left,top"),
        ("lossless=1", {"lossless": True}),
        ("ar=16:9", "ar=16.0:9"),
        ("blur=1e3", "blur=1000"),
    ],
)
def test_equivalent_inputs_share_a_canonical_form(a, b):
    pa = q(a) if isinstance(a, str) else parse(a)
    pb = q(b) if isinstance(b, str) else parse(b)
    assert pa == pb
    assert pa.canonical() == pb.canonical()


def test_from_canonical():
    p = q("w=0.3&dl=naïve file.png&bri=-12.5")
    assert Params.from_canonical(p.canonical()) == p
    with pytest.raises(InvalidParameter):
        Params.from_canonical("w=")


# A strategy for valid raw (name, value) pairs, each written in one of the ways a
# user might: a query string, or a JSON number.

_num = st.floats(allow_nan=False, allow_infinity=False)


def _spelled(value: float | int) -> st.SearchStrategy:
    """The same number as a JSON value or as text in a few spellings."""
    options = [st.just(value), st.just(repr(value)), st.just(str(value))]
    if float(value).is_integer():
        options += [st.just(str(int(value))), st.just(f"{float(value)}")]
    return st.one_of(options)


def _number_param(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return strategy.flatmap(_spelled)


_size = st.one_of(
    st.integers(1, 8192), st.floats(0, 1, exclude_min=True, exclude_max=True)
)
_rect_part = st.one_of(st.integers(0, 5000), st.floats(0, 1, exclude_min=True, exclude_max=True))
_rect_size = st.one_of(st.integers(1, 5000), st.floats(0, 1, exclude_min=True, exclude_max=True))
_hex = st.sampled_from([3, 4, 6, 8]).flatmap(
    lambda n: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n)
)
_ratio_part = st.one_of(st.integers(1, 100), st.floats(0.5, 50))
_colour = st.one_of(_hex, st.sampled_from(["red", "Navy", "rebeccapurple", "white", "#0f0"]))
_colour_pair = st.tuples(_colour, _colour).map(",".join)
_corners = st.one_of(st.integers(0, 200).map(str), st.lists(st.integers(0, 200), min_size=4, max_size=4)
                     .map(lambda v: ",".join(map(str, v))))

_overlay_ref = st.tuples(
    st.sampled_from(["/logo.png", "logo.png", "a b/é.png", "https://img.example.com/x.png",
                     "http://localhost:8080/default/m.png", "/100%.png"]),
    st.sampled_from(["", "?w=100", "?w=0.5&fm=png", "?bri=10&flip=h", "?ixlib=python-4.0&w=20"]),
).map("".join)
_align_value = st.sampled_from(["top", "bottom,right", "middle,center", "left", "Top,Left", "right,bottom"])
_overlay_size = st.one_of(st.integers(2, 8192), st.floats(0, 1, exclude_min=True).filter(lambda x: x > 0))

_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\n\t\r\u2028"),
                min_size=1, max_size=40)
_font = st.sampled_from(["sans-serif", "Sans-Serif,Bold", "serif", "monospace", "DejaVuSans-Bold",
                         "DejaVu Sans Mono", "sans,regular"])

VALUES: dict[str, st.SearchStrategy] = {
    "w": _number_param(_size),
    "h": _number_param(_size),
    "fit": st.sampled_from(["clamp", "clip", "crop", "facearea", "fill", "fillmax", "max", "min", "scale", "CROP"]),
    "crop": st.tuples(st.sampled_from(["", "faces,", "FACES,"]), st.one_of(
        st.sampled_from(["entropy", "edges", "focalpoint", "faces", "faces,edges", "faces,top,left",
                         "edges,faces", "faces,focalpoint,entropy"]),
        st.tuples(st.sampled_from(["", "top", "bottom"]), st.sampled_from(["", "left", "right"]))
        .filter(any)
        .flatmap(lambda t: st.permutations([x for x in t if x]).map(",".join)),
    )).map("".join) | st.just("faces"),
    "facepad": _number_param(st.floats(1, 10)),
    "face-blur": _number_param(st.floats(0, 2000)),
    "face-pixel": _number_param(st.integers(0, 200)),
    "faceindex": _number_param(st.integers(1, 100)),
    "faces": st.sampled_from([True, False, "0", "1"]),
    "exif": st.sampled_from(["0", "1", "gps", "GPS", True]),
    "palette": st.sampled_from(["json", "css", "CSS"]),
    "colors": _number_param(st.integers(1, 16)),
    "prefix": st.sampled_from(["image", "frog", "A", "x-1_b"]),
    "fp-x": _number_param(st.floats(0, 1)),
    "fp-y": _number_param(st.floats(0, 1)),
    "ar": st.tuples(_ratio_part, _ratio_part).map(lambda t: f"{t[0]}:{t[1]}"),
    "max-w": _number_param(st.integers(4096, 8192)),
    "max-h": _number_param(st.integers(4096, 8192)),
    "min-w": _number_param(st.integers(1, 4096)),
    "min-h": _number_param(st.integers(1, 4096)),
    "rect": st.tuples(st.one_of(_rect_part, st.sampled_from(["left", "center", "right"])),
                      st.one_of(_rect_part, st.sampled_from(["top", "middle", "bottom"])),
                      _rect_size, _rect_size).map(lambda t: ",".join(map(str, t))),
    "dpr": _number_param(st.floats(0, 5, exclude_min=True).filter(lambda x: x > 0)),
    "fm": st.sampled_from(["jpg", "jpeg", "pjpg", "png", "png8", "png32", "webp", "avif", "gif", "tiff",
                           "tif", "json", "blurhash"]),
    "q": _number_param(st.integers(0, 100)),
    "lossless": st.sampled_from([True, False, "0", "1", "true", "false", 0, 1]),
    "bg": _hex,
    "pad": _number_param(st.integers(0, 8192)),
    "page": _number_param(st.integers(1, 1_000_000)),
    "rot": _number_param(st.one_of(st.integers(0, 359), st.floats(0, 359.99))),
    "flip": st.sampled_from(["h", "v", "hv", "vh"]),
    "orient": _number_param(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 90, 180, 270])),
    "blur": _number_param(st.floats(0, 2000)),
    "sharp": _number_param(st.floats(0, 100)),
    "bri": _number_param(st.floats(-100, 100)),
    "con": _number_param(st.floats(-100, 100)),
    "sat": _number_param(st.floats(-100, 100)),
    "gam": _number_param(st.integers(-100, 100)),
    "trim": st.sampled_from(["auto", "color"]),
    "trim-color": _hex,
    "cs": st.sampled_from(["srgb", "origin", "strip", "tinysrgb", "adobergb1998"]),
    "dl": st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="/\\"),
        min_size=1, max_size=40,
    ).filter(lambda s: s not in (".", "..")),
    # issue 12: the imgix vocabulary
    "ch": st.lists(st.sampled_from(["Width", "DPR", "Save-Data", "width", "dpr"]), min_size=1,
                   max_size=3).map(",".join),
    "fp-z": _number_param(st.floats(1, 100)),
    "pad-top": _number_param(st.integers(0, 100)),
    "pad-right": _number_param(st.integers(0, 100)),
    "pad-bottom": _number_param(st.integers(0, 100)),
    "pad-left": _number_param(st.integers(0, 100)),
    "border": st.tuples(st.integers(1, 100), _colour).map(lambda t: f"{t[0]},{t[1]}"),
    "border-radius": _corners,
    "border-radius-inner": _corners,
    "mask": st.sampled_from(["ellipse", "corners", "Ellipse"]),
    "corner-radius": _corners,
    "mask-bg": _colour,
    "fill": st.sampled_from(["solid", "blur", "gradient"]),
    "fill-color": _colour,
    "fill-gradient-type": st.sampled_from(["linear", "radial"]),
    "fill-gradient-linear": _colour_pair,
    "fill-gradient-linear-direction": st.sampled_from(["top", "bottom", "left", "right", "top,right",
                                                       "left,bottom", "bottom,left"]),
    "fill-gradient-radial": _colour_pair,
    "fill-gradient-radial-radius": st.tuples(st.integers(0, 500), st.integers(0, 500)).map(
        lambda t: f"{t[0]},{t[1]}"),
    "fill-gradient-radial-x": _number_param(st.floats(0, 1)),
    "fill-gradient-radial-y": _number_param(st.floats(0, 1)),
    "fill-gradient-cs": st.sampled_from(["linear", "srgb", "oklab", "hsl", "lch"]),
    "exp": _number_param(st.floats(-100, 100)),
    "high": _number_param(st.floats(-100, 100)),
    "shad": _number_param(st.floats(-100, 100)),
    "vib": _number_param(st.floats(-100, 100)),
    "hue": _number_param(st.floats(-360, 360)),
    "invert": st.sampled_from([True, False, "0", "1", "true"]),
    "usm": _number_param(st.floats(-100, 100)),
    "usmrad": _number_param(st.floats(0, 500)),
    "nr": _number_param(st.floats(-100, 100)),
    "nrs": _number_param(st.floats(-100, 100)),
    "px": _number_param(st.integers(0, 100)),
    "monochrome": _colour,
    "sepia": _number_param(st.floats(0, 100)),
    "duotone": _colour_pair,
    "duotone-alpha": _number_param(st.integers(0, 100)),
    "colorquant": _number_param(st.integers(2, 256)),
    "dpi": _number_param(st.integers(1, 10000)),
    "chromasub": _number_param(st.sampled_from([444, 422, 420])),
    "jpg-progressive": st.sampled_from([True, False, "1", "0"]),
    "mark": _overlay_ref,
    "mark-align": _align_value,
    "mark-alpha": _number_param(st.integers(0, 100)),
    "mark-fit": st.sampled_from(["clip", "crop", "fill", "max", "scale", "Crop"]),
    "mark-w": _number_param(_overlay_size),
    "mark-h": _number_param(_overlay_size),
    "mark-pad": _number_param(st.integers(0, 8192)),
    "mark-rot": _number_param(st.one_of(st.integers(0, 359), st.floats(0, 359.99))),
    "mark-scale": _number_param(st.integers(0, 100)),
    "mark-tile": st.just("grid"),
    "mark-x": _number_param(st.integers(0, 8192)),
    "mark-y": _number_param(st.integers(0, 8192)),
    "mark-if-min-width": _number_param(st.integers(0, 100_000)),
    "mark-if-min-height": _number_param(st.integers(0, 100_000)),
    "blend": st.one_of(_overlay_ref, _colour),
    "blend-align": _align_value,
    "blend-alpha": _number_param(st.integers(0, 100)),
    "blend-color": _colour,
    "blend-crop": st.sampled_from(["top", "bottom,left", "faces", "faces,right", "left,top"]),
    "blend-fit": st.sampled_from(["clamp", "clip", "crop", "max", "scale"]),
    "blend-w": _number_param(_overlay_size),
    "blend-h": _number_param(_overlay_size),
    "blend-mode": st.sampled_from(["normal", "multiply", "screen", "overlay", "darken", "lighten", "dodge",
                                   "burn", "hardlight", "softlight", "difference", "exclusion", "hue",
                                   "saturation", "color", "luminosity", "Multiply"]),
    "blend-pad": _number_param(st.integers(0, 8192)),
    "blend-size": st.sampled_from(["inherit", "INHERIT"]),
    "blend-x": _number_param(st.integers(0, 8192)),
    "blend-y": _number_param(st.integers(0, 8192)),
    "border-top": _number_param(st.integers(0, 100)),
    "border-right": _number_param(st.integers(0, 100)),
    "border-bottom": _number_param(st.integers(0, 100)),
    "border-left": _number_param(st.integers(0, 100)),
    # issue 12: text and halftone
    "htn": _number_param(st.integers(0, 100)),
    "txt": _text,
    "txt-align": st.sampled_from(["top", "middle,center", "bottom,left", "LEFT,top", "right"]),
    "txt-clip": st.sampled_from(["start", "middle", "end", "ellipsis", "end,ellipsis", "ellipsis,start"]),
    "txt-color": _colour,
    "txt-fit": st.sampled_from(["max", "MAX"]),
    "txt-font": _font,
    "txt-lead": _number_param(st.integers(0, 1000)),
    "txt-line": _number_param(st.integers(0, 50)),
    "txt-line-color": _colour,
    "txt-pad": _number_param(st.integers(0, 8192)),
    "txt-shad": _number_param(st.floats(0, 10)),
    "txt-size": _number_param(st.integers(1, 1000)),
    "txt-track": _number_param(st.integers(-100, 100)),
    "txt-width": _number_param(st.integers(0, 8192)),
    "txt-x": _number_param(st.integers(-8192, 8192)),
    "txt-y": _number_param(st.integers(-8192, 8192)),
}
_BORDER_SIDES = ("border-top", "border-right", "border-bottom", "border-left")


def _with_border(d: dict) -> dict:
    """border-<side> needs border (its colour)."""
    if any(side in d for side in _BORDER_SIDES) and "border" not in d:
        d = {**d, "border": "2,000"}
    return d


def test_the_strategy_covers_every_parameter():
    assert set(VALUES) | {"auto"} == {p.name for p in TABLE}


raw_items = st.dictionaries(st.sampled_from(sorted(VALUES)), st.none()).flatmap(
    lambda chosen: st.fixed_dictionaries({name: VALUES[name] for name in chosen})
).map(_with_border).flatmap(
    lambda d: st.lists(st.sampled_from(["format", "compress", "format,compress"]), max_size=3).map(
        lambda autos: list(d.items()) + [("auto", a) for a in autos]
    )
)


@settings(max_examples=200)
@given(raw_items)
def test_canonical_round_trips(items):
    p = parse(items)
    text = p.canonical()
    assert parse(parse_qsl(text, keep_blank_values=True)) == p
    assert Params.from_canonical(text).canonical() == text


@settings(max_examples=200)
@given(raw_items)
def test_canonical_is_sorted_and_has_no_defaults(items):
    names = [pair.split("=", 1)[0] for pair in parse(items).canonical().split("&") if pair]
    assert names == sorted(names)
    assert len(names) == len(set(names))


@given(raw_items, st.randoms())
def test_canonical_ignores_the_order_of_parameters(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert parse(shuffled).canonical() == parse(items).canonical()


@given(st.text(max_size=20), st.text(max_size=20))
def test_parse_never_fails_with_anything_but_invalid_parameter(name, value):
    try:
        parse([(name, value)])
    except InvalidParameter as err:
        assert err.field == name


# --- presets: with_preset lays the URL's (a job's) parameters over a preset's ------------------


def test_with_preset_overrides_field_by_field():
    from ims.params import with_preset

    preset = {"w": 400, "h": 300, "fit": "crop", "auto": "format"}
    merged = parse(with_preset(preset, [("height", "100"), ("auto", "compress")]))
    assert (merged.w, merged.h, merged.fit, merged.auto) == (400, 100, "crop", frozenset({"compress"}))
    assert parse(with_preset(preset, [])) == parse(preset)
    assert parse(with_preset({"width": 10}, [("w", "20")])).w == 20        # either side's alias
    with pytest.raises(InvalidParameter) as error:                       # the URL's own repeats still count
        parse(with_preset(preset, [("w", "1"), ("width", "2")]))
    assert error.value.field == "width"


def test_preset_is_not_a_parameter():
    from ims.params import check_ignorable

    with pytest.raises(InvalidParameter) as error:
        parse([("preset", "card")])
    assert error.value.field == "preset" and "beside the parameters" in error.value.message
    with pytest.raises(ValueError, match="preset"):
        check_ignorable(["preset"])


_SCALARS = {"w": st.integers(1, 8192), "h": st.integers(1, 8192), "q": st.integers(0, 100),
            "fit": st.sampled_from(["clip", "crop", "max", "scale"]), "blur": st.integers(0, 2000),
            "fm": st.sampled_from(["jpg", "png", "webp"])}
_ALIASES = {"w": "width", "h": "height", "q": "quality", "fit": "f", "fm": "format"}


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional=_SCALARS), st.fixed_dictionaries({}, optional=_SCALARS),
       st.booleans())
def test_with_preset_is_the_override_of_the_given_fields(preset, given_params, use_aliases):
    """Whatever the names: every field the URL gives has the URL's value, every other the preset's."""
    from ims.params import with_preset

    items = [(_ALIASES.get(k, k) if use_aliases else k, str(v)) for k, v in given_params.items()]
    expected = parse({**preset, **given_params})
    assert parse(with_preset(preset, items)) == expected
    assert parse(with_preset(preset, items)).canonical() == expected.canonical()
