"""`budgetbot line rich-menu`: create the LINE rich menu, draw and upload its image, make it the default.

Four buttons (2 x 2 on a 2500 x 843 image), each sending a question as if the user had typed it, so the
menu needs no special handling in the webhook. Running it again replaces the menu: the menus it made before
(named MENU_NAME) are deleted once the new one is the default; menus made otherwise are left alone.
`--image-out FILE` writes the image too, as a preview; with no access token it writes only that.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    MessageAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from linebot.v3.messaging.exceptions import ApiException
from PIL import Image, ImageDraw, ImageFont

from bot.settings import Settings

WIDTH, HEIGHT = 2500, 843
COLUMNS, ROWS = 2, 2
MENU_NAME = "budgetbot-main"
CHAT_BAR_TEXT = "เมนู"  # at most 14 characters

FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".fonts",
    Path.home() / ".local/share/fonts",
)
# Thai fonts commonly installed (Noto, TLWG/fonts-thai-tlwg, Sarabun), best looking first.
PREFERRED_FONTS = (
    "NotoSansThai",
    "NotoSansThaiLooped",
    "Sarabun",
    "Loma",
    "Garuda",
    "Waree",
    "Umpush",
    "Sawasdee",
    "Kinnari",
    "Norasi",
    "Laksaman",
    "TlwgTypo",
    "Purisa",
)
THAI_PROBE = "กขคสวัสดี"


@dataclass(frozen=True)
class MenuButton:
    label: str  # Thai, drawn when a Thai font is available
    label_en: str  # drawn otherwise
    question: str  # what tapping the button sends
    icon: str  # calendar | list | check | help
    color: str


BUTTONS: tuple[MenuButton, ...] = (
    # Which years are open now (the calendar's answer), not "this fiscal year", which has always begun and so
    # could only ever answer "no" while the next year is taking requests.
    MenuButton("ปีไหนยังยื่นได้", "Which years are open", "ปีไหนบ้างที่ยังเปิดรับคำขออยู่", "calendar", "#0B5394"),
    MenuButton("แนวทางทั้ง 3", "The 3 guidelines", "แนวทางมีอะไรบ้าง", "list", "#1C7C54"),
    MenuButton("ตรวจโครงการของฉัน", "Check my project", "โครงการเราขอได้ไหม", "check", "#B45F06"),
    MenuButton("ช่วยเหลือ", "Help", "ช่วยอะไรได้บ้าง", "help", "#5B5B5B"),
)


def _cells() -> list[tuple[int, int, int, int]]:
    """(x, y, width, height) of each button, row by row; the cells cover the image exactly."""
    xs = [round(i * WIDTH / COLUMNS) for i in range(COLUMNS + 1)]
    ys = [round(i * HEIGHT / ROWS) for i in range(ROWS + 1)]
    return [(xs[c], ys[r], xs[c + 1] - xs[c], ys[r + 1] - ys[r]) for r in range(ROWS) for c in range(COLUMNS)]


def rich_menu_request(buttons: Sequence[MenuButton] = BUTTONS) -> RichMenuRequest:
    areas = [
        RichMenuArea(
            bounds=RichMenuBounds(x=x, y=y, width=w, height=h),
            action=MessageAction(label=button.label[:20], text=button.question),
        )
        for button, (x, y, w, h) in zip(buttons, _cells(), strict=True)
    ]
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=True,
        name=MENU_NAME,
        chat_bar_text=CHAT_BAR_TEXT,
        areas=areas,
    )


# --- fonts ---------------------------------------------------------------------------------------


def has_thai_glyphs(path: Path) -> bool:
    """True when the font draws Thai letters (a missing glyph draws the same box/blank as a private-use one)."""
    try:
        font = ImageFont.truetype(str(path), 48)
        thai = font.getmask(THAI_PROBE)
        missing = font.getmask("\ue000" * len(THAI_PROBE))
    except (OSError, ValueError):
        return False
    return thai.getbbox() is not None and bytes(thai) != bytes(missing)


def _rank(path: Path) -> tuple[int, int]:
    stem = path.stem.replace(" ", "")
    family = stem.split("-")[0]
    try:
        preference = next(i for i, name in enumerate(PREFERRED_FONTS) if family.lower() == name.lower())
    except StopIteration:
        preference = len(PREFERRED_FONTS)
    style = stem[len(family) :].lower()
    # Bold upright first: it reads best at a glance on a phone.
    style_rank = 0 if style == "-bold" else 1 if style == "" else 2
    return preference, style_rank


def find_thai_font(dirs: Iterable[Path] = FONT_DIRS) -> Path | None:
    """The best installed font that really has Thai glyphs, or None."""
    candidates = [p for d in dirs if d.is_dir() for p in d.rglob("*") if p.suffix.lower() in (".ttf", ".otf")]
    for path in sorted(candidates, key=lambda p: (_rank(p), str(p))):
        if _rank(path)[0] == len(PREFERRED_FONTS) and "thai" not in path.name.lower():
            # Unknown family: only try it if nothing known worked (checked below, in order).
            continue
        if has_thai_glyphs(path):
            return path
    for path in sorted(candidates, key=str):
        if has_thai_glyphs(path):
            return path
    return None


def _latin_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for d in FONT_DIRS:
        if d.is_dir():
            for name in ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "DejaVuSans.ttf"):
                for path in d.rglob(name):
                    return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


# --- drawing -------------------------------------------------------------------------------------


def _draw_icon(draw: ImageDraw.ImageDraw, icon: str, cx: int, cy: int, r: int) -> None:
    white = "#FFFFFF"
    w = max(6, r // 9)
    if icon == "calendar":
        draw.rounded_rectangle((cx - r, cy - r + r // 5, cx + r, cy + r), radius=r // 6, outline=white, width=w)
        draw.rectangle((cx - r, cy - r + r // 5, cx + r, cy - r // 3), fill=white)
        for dx in (-r // 2, r // 2):
            draw.line((cx + dx, cy - r - r // 8, cx + dx, cy - r + r // 3), fill=white, width=w)
        for row in range(2):
            for col in range(3):
                x = cx - r // 2 + col * r // 2
                y = cy + row * r // 2
                draw.ellipse((x - w, y - w, x + w, y + w), fill=white)
    elif icon == "list":
        for i in range(3):
            y = cy - r // 2 + i * r // 2
            draw.ellipse((cx - r, y - w, cx - r + 2 * w, y + w), fill=white)
            draw.line((cx - r // 2, y, cx + r, y), fill=white, width=w)
    elif icon == "check":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=white, width=w)
        draw.line(
            (cx - r // 2, cy, cx - r // 8, cy + r // 2.5, cx + r // 2, cy - r // 2.5),
            fill=white,
            width=w,
            joint="curve",
        )
    else:  # help: a circle with a question mark
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=white, width=w)
        font = _latin_font(int(r * 1.3))
        draw.text((cx, cy), "?", font=font, fill=white, anchor="mm")


def _fit(font_path: Path | None, text: str, max_width: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font size (down from `size`) at which text fits max_width."""
    while True:
        font = ImageFont.truetype(str(font_path), size) if font_path else _latin_font(size)
        if size <= 24 or font.getlength(text) <= max_width:
            return font
        size -= 4


def draw_rich_menu_image(font_path: Path | None, buttons: Sequence[MenuButton] = BUTTONS) -> bytes:
    """The menu image as PNG: coloured tiles with an icon and a label (Thai if font_path, else English)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "#FFFFFF")
    draw = ImageDraw.Draw(image)
    gap = 6
    for button, (x, y, w, h) in zip(buttons, _cells(), strict=True):
        draw.rectangle((x + gap, y + gap, x + w - gap, y + h - gap), fill=button.color)
        r = h // 4
        icon_cx = x + gap + 40 + r
        _draw_icon(draw, button.icon, icon_cx, y + h // 2, r)
        text = button.label if font_path else button.label_en
        left = icon_cx + r + 50
        font = _fit(font_path, text, x + w - gap - 40 - left, 110)
        draw.text((left, y + h // 2), text, font=font, fill="#FFFFFF", anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# --- the command ---------------------------------------------------------------------------------


async def create_rich_menu(settings: Settings, image_out: Path | None = None) -> int:
    """Create the rich menu, upload its image, set it as default. Returns a CLI exit code."""
    token = settings.line_channel_access_token
    if not token and image_out is None:
        print("LINE_CHANNEL_ACCESS_TOKEN is not set (--image-out FILE draws a preview without it)", file=sys.stderr)
        return 2
    font_path = find_thai_font()
    if font_path is None:
        print("no Thai font found: drawing English labels (install fonts-thai-tlwg or Noto Sans Thai)", file=sys.stderr)
    image = draw_rich_menu_image(font_path)
    if image_out is not None:
        image_out.parent.mkdir(parents=True, exist_ok=True)
        image_out.write_bytes(image)
        print(f"preview written to {image_out} ({'Thai' if font_path else 'English'} labels)", file=sys.stderr)
        if not token:
            print("LINE_CHANNEL_ACCESS_TOKEN is not set: nothing changed on LINE (preview only)", file=sys.stderr)
            return 0
    api_config = Configuration(host=settings.line_api_base_url, access_token=token)
    data_config = Configuration(host=settings.line_data_api_base_url, access_token=token)
    try:
        async with AsyncApiClient(api_config) as api_client, AsyncApiClient(data_config) as data_client:
            api = AsyncMessagingApi(api_client)
            blob = AsyncMessagingApiBlob(data_client)
            created = await api.create_rich_menu(rich_menu_request())
            menu_id = created.rich_menu_id
            # The SDK would JSON-encode the bytes without an explicit image content type.
            await blob.set_rich_menu_image(menu_id, image, _headers={"Content-Type": "image/png"})
            await api.set_default_rich_menu(menu_id)
            # The new menu is in place: the ones this command made before go (users see no gap).
            listed = await api.get_rich_menu_list()
            old = [m.rich_menu_id for m in listed.richmenus if m.name == MENU_NAME and m.rich_menu_id != menu_id]
            for old_id in old:
                await api.delete_rich_menu(old_id)
    except ApiException as exc:
        print(f"LINE API error {exc.status}: {exc.body}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - network errors: a message and an exit code, not a trace
        print(f"could not reach LINE: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        f"rich menu {menu_id} created and set as default ({'Thai' if font_path else 'English'} labels)"
        + (f"; {len(old)} earlier menu(s) deleted" if old else "")
    )
    return 0
