"""A printable event poster: the programme's name, the QR code, "scan to ask" in English and Chinese, the link.

An A4 page at 150 dpi, as PNG (Pillow) and as SVG (vector, text kept as text so any printer's fonts show the
Chinese line). Pillow draws Chinese only with a CJK font, found among the usual system fonts or given with `font`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

from bot.core.texts import text

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi
QR_SHARE = 0.62  # of the page width: scannable from a couple of metres
BORDER = 4  # the quiet zone the QR standard asks for
TITLE_SIZE, SCAN_SIZE, LINK_SIZE = 64, 60, 26
# Where Debian/Ubuntu, macOS and Windows keep a font with Chinese glyphs; the first one present is used.
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
SVG_FONTS = "'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif"


@dataclass(frozen=True)
class Poster:
    """What the poster says; `name` is the programme's name (a neutral title without one)."""

    code: segno.QRCode
    link: str
    title: list[str]

    @property
    def lines(self) -> list[tuple[str, int]]:
        """The text below the code, with its font size: scan to ask in both languages, then the link."""
        return [(text("en", "poster_scan"), SCAN_SIZE), (text("zh", "poster_scan"), SCAN_SIZE), (self.link, LINK_SIZE)]


def make_poster(code: segno.QRCode, link: str, name: str | None) -> Poster:
    """The poster of `link` titled with the programme's name; without one, a neutral title in both languages."""
    return Poster(code, link, [name] if name else [text("en", "poster_name"), text("zh", "poster_name")])


def _layout(poster: Poster) -> tuple[int, int, int]:
    """Pixels per module, and the QR's left and top edges (quiet zone included)."""
    modules = len(poster.code.matrix) + 2 * BORDER
    scale = int(WIDTH * QR_SHARE) // modules
    return scale, (WIDTH - scale * modules) // 2, 260


def _cjk_font(font: Path | None, size: int) -> ImageFont.FreeTypeFont | None:
    for path in ([font] if font else []) + [Path(p) for p in CJK_FONTS]:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return None


def _centred(draw: ImageDraw.ImageDraw, y: int, line: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    left, top, right, bottom = draw.textbbox((0, 0), line, font=font)
    draw.text(((WIDTH - (right - left)) // 2, y), line, fill="black", font=font)
    return y + (bottom - top) + 40


def _draw_lines(draw: ImageDraw.ImageDraw, y: int, lines: list[tuple[str, int]], font: Path | None) -> None:
    """Lines centred from `y` down; a Chinese line is left out (with a warning) when no CJK font is found."""
    for line, size in lines:
        chosen = ImageFont.load_default(size) if line.isascii() else _cjk_font(font, size)
        if chosen is None:
            log.warning("poster: no Chinese font found (give --font); the line %r is only in the SVG", line)
            continue
        y = _centred(draw, y, line, chosen)


def write_png(poster: Poster, out: Path, font: Path | None = None) -> Path:
    """Draw the poster as a PNG."""
    scale, left, top = _layout(poster)
    page = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(page)
    origin_x, origin_y = left + BORDER * scale, top + BORDER * scale
    for y, row in enumerate(poster.code.matrix):
        for x, dark in enumerate(row):
            if dark:
                corner = (origin_x + x * scale, origin_y + y * scale)
                draw.rectangle((corner, (corner[0] + scale - 1, corner[1] + scale - 1)), fill="black")
    _draw_lines(draw, 60, [(line, TITLE_SIZE) for line in poster.title], font)
    _draw_lines(draw, top + (len(poster.code.matrix) + 2 * BORDER) * scale + 30, poster.lines, font)
    out.parent.mkdir(parents=True, exist_ok=True)
    page.save(out, format="PNG", dpi=(150, 150))
    return out


def _svg_lines(y: int, lines: list[tuple[str, int]]) -> list[str]:
    """The lines as centred SVG text from `y` down (y is each line's baseline)."""
    out = []
    for line, size in lines:
        y += size
        out.append(f'<text x="{WIDTH // 2}" y="{y}" font-size="{size}">{escape(line)}</text>')
        y += 40
    return out


def write_svg(poster: Poster, out: Path) -> Path:
    """Write the poster as SVG: the code as one path of unit squares, the text as text."""
    scale, left, top = _layout(poster)
    squares = "".join(
        f"M{x},{y}h1v1h-1z" for y, row in enumerate(poster.code.matrix) for x, dark in enumerate(row) if dark
    )
    size = len(poster.code.matrix) + 2 * BORDER
    origin = (left + BORDER * scale, top + BORDER * scale)
    lines = [
        *_svg_lines(60, [(line, TITLE_SIZE) for line in poster.title]),
        *_svg_lines(top + size * scale + 30, poster.lines),
    ]
    body = "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 {WIDTH} {HEIGHT}">',
            '<rect width="100%" height="100%" fill="white"/>',
            f'<g font-family="{SVG_FONTS}" text-anchor="middle" fill="black">',
            *lines,
            "</g>",
            f'<path transform="translate({origin[0]} {origin[1]}) scale({scale})" d="{squares}"/>',
            "</svg>",
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body + "\n", encoding="utf-8")
    return out
