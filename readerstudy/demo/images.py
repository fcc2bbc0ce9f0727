"""Procedurally drawn lesion images for demo data: deterministic from a seed, numpy + Pillow only.

Not medical images: plausible-looking stand-ins so that demo studies have something calm to show.
Each condition maps to a *look* (how the lesion is drawn clinically, which dermoscopic pattern,
which palette); unknown codes fall back to their group. Colours are derived from the skin colour of
the Fitzpatrick type, so erythema looks violaceous and pigment darker on darker skin.

Long module: a procedural painter (lesion shapes, colours, dermoscopic structures) whose parts share
one seeded random stream; demo-only, never imported by the product's request paths.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

FITZPATRICK_RGB = {
    1: (241, 218, 200),
    2: (228, 192, 165),
    3: (205, 160, 124),
    4: (168, 118, 82),
    5: (118, 78, 52),
    6: (76, 51, 39),
}
JPEG_QUALITY = 88


@dataclass(frozen=True)
class Look:
    clinical: (
        str  # renderer: pigmented, pearly, keratotic, stuck_on, plaque, annular, papules, nodule, patch,
    )
    #                ulcer, hair, nail, spider
    derm: str  # network, atypical, arborizing, cysts, lacunae, dotted, strawberry, central_white, structureless,
    #            follicles, nail
    palette: str  # colour key, see _palette
    many: bool = False  # several lesions in the clinical picture


_L = Look
LOOKS: dict[str, Look] = {
    "MEL": _L("pigmented", "atypical", "melanoma"),
    "LM": _L("pigmented", "atypical", "lentigo_maligna"),
    "BCC": _L("pearly", "arborizing", "pearl"),
    "SCC": _L("keratotic", "strawberry", "scc"),
    "KA": _L("nodule", "strawberry", "keratin"),
    "MCC": _L("nodule", "arborizing", "violet"),
    "KS": _L("nodule", "lacunae", "purple"),
    "MF": _L("plaque", "dotted", "pink"),
    "DFSP": _L("nodule", "structureless", "pink"),
    "CUT_MET": _L("nodule", "arborizing", "pink"),
    "AK": _L("keratotic", "strawberry", "ak"),
    "BOWEN": _L("keratotic", "dotted", "bowen"),
    "ACTINIC_CHEILITIS": _L("keratotic", "strawberry", "ak"),
    "DN": _L("pigmented", "network", "atypical_nevus"),
    "CUT_HORN": _L("keratotic", "strawberry", "keratin"),
    "POROK": _L("annular", "structureless", "brown"),
    "NEV": _L("pigmented", "network", "nevus"),
    "CNEV": _L("pigmented", "network", "congenital"),
    "BLUE_NEV": _L("pigmented", "structureless", "blue"),
    "SPITZ": _L("nodule", "dotted", "pink"),
    "SK": _L("stuck_on", "cysts", "sk"),
    "DPN": _L("papules", "cysts", "dark", many=True),
    "DF": _L("nodule", "central_white", "df"),
    "ACRO": _L("nodule", "structureless", "tag"),
    "SH": _L("papules", "arborizing", "yellow"),
    "MILIA": _L("papules", "structureless", "white", many=True),
    "EIC": _L("nodule", "structureless", "cyst"),
    "LIPOMA": _L("nodule", "structureless", "skin"),
    "NEUROFIBROMA": _L("nodule", "structureless", "skin"),
    "CHERRY_ANGIOMA": _L("nodule", "lacunae", "cherry"),
    "PYOGENIC_GRANULOMA": _L("nodule", "lacunae", "pg"),
    "INFANTILE_HAEMANGIOMA": _L("nodule", "lacunae", "strawberry"),
    "SPIDER_NAEVUS": _L("spider", "dotted", "red"),
    "VENOUS_LAKE": _L("nodule", "lacunae", "venous"),
    "PORT_WINE_STAIN": _L("patch", "dotted", "wine"),
    "ANGIOKERATOMA": _L("nodule", "lacunae", "venous"),
    "VASCULITIS": _L("papules", "dotted", "purpura", many=True),
    "VENOUS_ULCER": _L("ulcer", "structureless", "slough"),
    "AD": _L("plaque", "dotted", "eczema"),
    "IRRITANT_CD": _L("plaque", "dotted", "eczema"),
    "ALLERGIC_CD": _L("plaque", "dotted", "eczema"),
    "SD": _L("plaque", "dotted", "greasy"),
    "NUM": _L("plaque", "dotted", "eczema"),
    "DYS": _L("papules", "structureless", "vesicle", many=True),
    "STASIS": _L("plaque", "dotted", "stasis"),
    "LSC": _L("plaque", "dotted", "lichenified"),
    "PSO": _L("plaque", "dotted", "psoriasis"),
    "GPSO": _L("papules", "dotted", "psoriasis", many=True),
    "LP": _L("papules", "dotted", "violet", many=True),
    "LS": _L("patch", "structureless", "white"),
    "PR": _L("annular", "dotted", "salmon"),
    "ACNE": _L("papules", "structureless", "acne", many=True),
    "ROS": _L("papules", "dotted", "red", many=True),
    "POD": _L("papules", "dotted", "red", many=True),
    "HS": _L("nodule", "structureless", "red"),
    "URT": _L("papules", "dotted", "wheal", many=True),
    "EM": _L("annular", "dotted", "target"),
    "GA": _L("annular", "structureless", "skin_ring"),
    "PYODERMA_GANGRENOSUM": _L("ulcer", "structureless", "pg_ulcer"),
    "INTERTRIGO": _L("patch", "dotted", "red"),
    "INSECT_BITE": _L("papules", "dotted", "red", many=True),
    "CNH": _L("nodule", "structureless", "keratin"),
    "TINEA_CORPORIS": _L("annular", "dotted", "tinea"),
    "TINEA_PEDIS": _L("plaque", "dotted", "maceration"),
    "TINEA_CRURIS": _L("annular", "dotted", "tinea"),
    "TINEA_CAPITIS": _L("hair", "follicles", "scaly_scalp"),
    "TINEA_VERSICOLOR": _L("papules", "structureless", "versicolor", many=True),
    "CANDIDA": _L("patch", "dotted", "red"),
    "IMPETIGO": _L("plaque", "structureless", "honey"),
    "CELLULITIS": _L("patch", "dotted", "cellulitis"),
    "FOLLICULITIS": _L("papules", "structureless", "acne", many=True),
    "ABSCESS": _L("nodule", "structureless", "red"),
    "WART": _L("stuck_on", "dotted", "wart"),
    "MOLLUSCUM": _L("papules", "structureless", "molluscum", many=True),
    "HSV": _L("papules", "structureless", "vesicle", many=True),
    "HZ": _L("papules", "structureless", "vesicle", many=True),
    "SCABIES": _L("papules", "dotted", "red", many=True),
    "LYME": _L("annular", "dotted", "lyme"),
    "SYPHILIS": _L("papules", "structureless", "copper", many=True),
    "VITILIGO": _L("patch", "structureless", "depigmented"),
    "MELASMA": _L("patch", "network", "melasma"),
    "PIH": _L("patch", "structureless", "brown"),
    "SOLAR_LENTIGO": _L("pigmented", "network", "lentigo"),
    "EPHELIDES": _L("papules", "network", "freckle", many=True),
    "CALM": _L("patch", "network", "cafe"),
    "PITYRIASIS_ALBA": _L("patch", "structureless", "hypo"),
    "IGH": _L("papules", "structureless", "white", many=True),
    "ACANTHOSIS_NIGRICANS": _L("patch", "cysts", "velvet"),
    "CDM": _L("patch", "structureless", "blue"),
    "AA": _L("hair", "follicles", "alopecia"),
    "AGA": _L("hair", "follicles", "thinning"),
    "TE": _L("hair", "follicles", "thinning"),
    "LPP": _L("hair", "follicles", "scarring"),
    "ONYCHOMYCOSIS": _L("nail", "nail", "onychomycosis"),
    "PARONYCHIA": _L("nail", "nail", "paronychia"),
    "INGROWN_NAIL": _L("nail", "nail", "paronychia"),
    "NAIL_PSO": _L("nail", "nail", "pitting"),
    "MELANONYCHIA": _L("nail", "nail", "melanonychia"),
    "SUBUNGUAL_HAEMATOMA": _L("nail", "nail", "haematoma"),
    "KELOID": _L("nodule", "structureless", "keloid"),
    "XEROSIS": _L("patch", "structureless", "xerosis"),
    "XANTHELASMA": _L("patch", "structureless", "yellow"),
    "CALLUS": _L("stuck_on", "structureless", "callus"),
    "KP": _L("papules", "structureless", "red", many=True),
}
GROUP_LOOKS = {
    "malignant_neoplasm": _L("pigmented", "atypical", "melanoma"),
    "premalignant": _L("keratotic", "strawberry", "ak"),
    "benign_neoplasm": _L("pigmented", "network", "nevus"),
    "inflammatory": _L("plaque", "dotted", "psoriasis"),
    "infectious": _L("annular", "dotted", "tinea"),
    "pigmentary": _L("patch", "structureless", "brown"),
    "hair_nail": _L("hair", "follicles", "alopecia"),
    "vascular": _L("nodule", "lacunae", "cherry"),
    "other": _L("patch", "structureless", "red"),
}


def look_for(condition_code: str, group: str, malignant: bool) -> Look:
    """How to draw a condition: its own look, else its group's, else by the malignant flag."""
    if condition_code in LOOKS:
        return LOOKS[condition_code]
    if group in GROUP_LOOKS:
        return GROUP_LOOKS[group]
    return GROUP_LOOKS["malignant_neoplasm" if malignant else "benign_neoplasm"]


# --- colours ---------------------------------------------------------------------------------------------

WHITE = np.array([244, 236, 228], np.float32)


def _palette(key: str, skin: np.ndarray, tone: int) -> tuple[np.ndarray, np.ndarray]:
    """(main colour, secondary colour) for a palette key, derived from the skin colour."""
    dark_skin = (tone - 1) / 5.0
    red = skin * np.array([1.02, 0.62, 0.64]) + np.array([28, 0, 8]) * (1 - dark_skin)
    violet = skin * np.array([0.78, 0.55, 0.68])
    brown = skin * np.array([0.58, 0.44, 0.38])
    dark = skin * np.array([0.30, 0.23, 0.21])

    def mix(a, b, t):
        return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t

    table = {
        "melanoma": (brown, dark),
        "lentigo_maligna": (mix(skin, brown, 0.7), dark),
        "nevus": (brown, mix(brown, dark, 0.5)),
        "atypical_nevus": (mix(skin, brown, 0.85), mix(brown, dark, 0.4)),
        "congenital": (mix(brown, dark, 0.3), dark),
        "lentigo": (mix(skin, brown, 0.6), brown),
        "freckle": (mix(skin, brown, 0.45), brown),
        "cafe": (mix(skin, brown, 0.45), mix(skin, brown, 0.5)),
        "melasma": (mix(skin, brown, 0.45), mix(skin, brown, 0.6)),
        "brown": (mix(skin, brown, 0.6), brown),
        "dark": (mix(brown, dark, 0.5), dark),
        "sk": (mix(brown, skin, 0.15), mix(brown, dark, 0.5)),
        "blue": (mix(skin, (70, 85, 120), 0.55), mix(skin, (40, 50, 80), 0.7)),
        "pearl": (mix(skin, (236, 196, 200), 0.55), red),
        "pink": (mix(skin, red, 0.55), red),
        "red": (red, mix(red, violet, 0.5)),
        "violet": (violet, mix(violet, dark, 0.3)),
        "purple": (mix(violet, (90, 40, 90), 0.5), mix(violet, dark, 0.4)),
        "purpura": (mix(violet, (130, 30, 60), 0.5), violet),
        "cherry": ((196, 30, 52), (150, 20, 40)),
        "pg": ((200, 45, 60), (230, 90, 100)),
        "strawberry": ((206, 46, 58), (170, 30, 50)),
        "venous": ((70, 50, 110), (40, 30, 80)),
        "wine": (mix(skin, (150, 40, 80), 0.6), (140, 30, 70)),
        "df": (mix(skin, brown, 0.55), mix(skin, WHITE, 0.5)),
        "tag": (mix(skin, brown, 0.25), brown),
        "yellow": (mix(skin, (235, 205, 130), 0.55), red),
        "white": (mix(skin, WHITE, 0.75), WHITE),
        "cyst": (mix(skin, (240, 225, 200), 0.2), dark),
        "skin": (mix(skin, WHITE, 0.05), skin),
        "keloid": (mix(skin, red, 0.35), mix(skin, WHITE, 0.3)),
        "keratin": (mix(skin, red, 0.45), (235, 222, 190)),
        "scc": (mix(skin, red, 0.75), (226, 208, 168)),
        "ak": (mix(skin, red, 0.6), (238, 228, 208)),
        "bowen": (red, (232, 220, 200)),
        "psoriasis": (mix(skin, red, 0.85), (236, 234, 232)),
        "eczema": (mix(skin, red, 0.6), (228, 210, 196)),
        "greasy": (mix(skin, red, 0.45), (232, 212, 160)),
        "stasis": (mix(red, brown, 0.4), brown),
        "lichenified": (mix(mix(skin, red, 0.4), brown, 0.3), dark),
        "salmon": (mix(skin, red, 0.55), WHITE),
        "tinea": (mix(skin, red, 0.7), (232, 222, 210)),
        "lyme": (mix(skin, red, 0.6), red),
        "target": (red, violet),
        "skin_ring": (mix(skin, violet, 0.35), skin),
        "honey": (red, (214, 160, 60)),
        "maceration": (mix(skin, WHITE, 0.5), red),
        "cellulitis": (mix(skin, red, 0.65), red),
        "versicolor": (mix(skin, WHITE, 0.35), mix(skin, brown, 0.4)),
        "hypo": (mix(skin, WHITE, 0.3), WHITE),
        "depigmented": (mix(skin, WHITE, 0.92), WHITE),
        "velvet": (mix(brown, dark, 0.3), dark),
        "xerosis": (mix(skin, WHITE, 0.3), mix(skin, brown, 0.3)),
        "callus": (mix(skin, (230, 210, 150), 0.4), brown),
        "wart": (mix(skin, (200, 185, 160), 0.4), (90, 40, 40)),
        "acne": (red, (238, 230, 190)),
        "molluscum": (mix(skin, (245, 225, 215), 0.5), mix(skin, brown, 0.3)),
        "vesicle": (mix(skin, (240, 225, 215), 0.6), red),
        "wheal": (mix(skin, (240, 200, 200), 0.4), red),
        "copper": (mix(skin, (170, 90, 60), 0.5), brown),
        "slough": ((190, 60, 60), (220, 196, 110)),
        "pg_ulcer": ((180, 50, 60), violet),
    }
    main, accent = table.get(key, (red, dark))
    return np.clip(np.asarray(main, np.float32), 0, 255), np.clip(np.asarray(accent, np.float32), 0, 255)


# --- primitives -------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1] at roughly ``cells`` features across."""
    small = rng.random((cells, cells), dtype=np.float32)
    return np.asarray(Image.fromarray(small, "F").resize((size, size), Image.BICUBIC)).clip(0, 1)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class Shape:
    """A lesion outline shared by the clinical and dermoscopic pictures."""

    radii: np.ndarray  # radius multiplier per degree, mean about 1
    elongation: float
    angle: float
    dx: float
    dy: float

    @classmethod
    def random(cls, rng: np.random.Generator, irregular: float) -> Shape:
        theta = np.linspace(0, 2 * np.pi, 360, endpoint=False)
        radii = np.ones(360)
        for k in range(2, 9):
            radii += irregular * rng.normal(0, 0.35 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        return cls(
            radii.astype(np.float32),
            float(rng.uniform(1.0, 1.35)),
            float(rng.uniform(0, np.pi)),
            float(rng.uniform(-0.06, 0.06)),
            float(rng.uniform(-0.06, 0.06)),
        )


def _polar(c: Canvas, shape: Shape, cx: float | None, cy: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Distance from the centre and the outline's radius multiplier at every pixel (cached per canvas)."""
    size = c.size
    cx = size * (0.5 + shape.dx) if cx is None else cx
    cy = size * (0.5 + shape.dy) if cy is None else cy
    key = (id(shape), round(cx, 2), round(cy, 2))
    if key not in c.polar:
        yy, xx = _grid(size)
        x, y = xx - cx, yy - cy
        cos, sin = np.cos(shape.angle), np.sin(shape.angle)
        u, v = (x * cos + y * sin) / shape.elongation, -x * sin + y * cos
        index = ((np.arctan2(v, u) + np.pi) * (180 / np.pi)).astype(np.int32) % 360
        c.polar[key] = (np.hypot(u, v), shape.radii[index])
    return c.polar[key]


def _blob(
    c: Canvas,
    radius: float,
    edge: float,
    cx: float | None = None,
    cy: float | None = None,
    shape: Shape | None = None,
) -> np.ndarray:
    """Soft mask of the lesion outline at ``radius`` pixels with an edge ``edge`` pixels wide."""
    distance, radii = _polar(c, shape or c.shape, cx, cy)
    return _smoothstep(-edge / 2, edge / 2, radius * radii - distance)


def _blend(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image`` moved towards ``colour`` by ``alpha``, in place (image is float32 and owned)."""
    alpha = alpha[..., None] if alpha.ndim == 2 else alpha
    image += (np.asarray(colour, np.float32) - image) * alpha
    return image


def _spots(
    rng: np.random.Generator, size: int, centres: np.ndarray, radii: np.ndarray, blur: float
) -> np.ndarray:
    """A mask of filled circles, softened."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for (x, y), r in zip(centres, radii, strict=True):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    if blur > 0:
        canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(canvas, np.float32) / 255


def _cluster(rng: np.random.Generator, size: int, n: int, spread: float, band: bool = False) -> np.ndarray:
    centre = size * (0.5 + rng.uniform(-0.08, 0.08, 2))
    if band:  # dermatomal: along a slanted band
        t = rng.uniform(-1, 1, n)[:, None]
        direction = np.array([1.0, rng.uniform(-0.5, 0.5)])
        return centre + t * direction * size * 0.4 + rng.normal(0, size * 0.04, (n, 2))
    return centre + rng.normal(0, size * spread, (n, 2))


# --- clinical renderers ------------------------------------------------------------------------------------


@dataclass
class Canvas:
    rng: np.random.Generator
    size: int
    skin: np.ndarray
    tone: int
    look: Look
    shape: Shape
    main: np.ndarray
    accent: np.ndarray
    image: np.ndarray
    lines: list  # (points, colour, width) drawn with ImageDraw after the arrays
    polar: dict = field(default_factory=dict)


def _skin_background(rng: np.random.Generator, size: int, skin: np.ndarray, dermoscopic: bool) -> np.ndarray:
    low = _noise(rng, size, 5) - 0.5
    mid = _noise(rng, size, 48) - 0.5
    grain = rng.standard_normal((size, size), dtype=np.float32) * (0.010 if dermoscopic else 0.018)
    yy, xx = _grid(size)
    light = 1 + 0.06 * ((xx + yy) / size - 1) * (0 if dermoscopic else 1)
    shade = (1 + 0.08 * low + 0.05 * mid + grain) * light
    base = skin * (np.array([1.04, 1.0, 1.0], np.float32) if dermoscopic else 1)
    return base[None, None, :] * shade[..., None]


def _pigmented(c: Canvas, radius: float, atypical: bool) -> None:
    size = c.size
    mask = _blob(c, radius, edge=size * (0.02 if atypical else 0.012))
    n1, n2 = _noise(c.rng, size, 10), _noise(c.rng, size, 7)
    colour = _blend(
        np.broadcast_to(c.main, (size, size, 3)).copy(), c.accent, _smoothstep(0.45, 0.8, n1) * 0.8
    )
    if atypical:
        blue = np.array([105, 115, 140], np.float32) * (c.skin.mean() / 200) ** 0.5
        colour = _blend(colour, blue, _smoothstep(0.7, 0.9, n2) * 0.5)
        colour = _blend(colour, _blend_pink(c.skin), _smoothstep(0.72, 0.92, 1 - n2) * 0.5)
        colour = _blend(colour, c.accent * 0.6, _smoothstep(0.55, 0.8, _noise(c.rng, size, 16)) * 0.6)
    c.image = _blend(c.image, colour, mask * 0.96)


def _blend_pink(skin: np.ndarray) -> np.ndarray:
    return skin * 0.5 + np.array([230, 190, 190], np.float32) * 0.5


def _pearly(c: Canvas, radius: float) -> None:
    size, rng = c.size, c.rng
    mask = _blob(c, radius, edge=size * 0.03)
    rim = mask * (1 - _blob(c, radius * 0.7, edge=size * 0.08))
    c.image = _blend(c.image, c.main, mask * 0.75)
    c.image = _blend(c.image, np.array([250, 238, 236], np.float32), rim * 0.35)
    if rng.random() < 0.5:
        ulcer = _blob(c, radius * 0.3, edge=size * 0.02)
        c.image = _blend(c.image, np.array([120, 45, 40], np.float32), ulcer * 0.8)
    cx, cy = size * (0.5 + c.shape.dx), size * (0.5 + c.shape.dy)
    for _ in range(rng.integers(3, 7)):
        _vessel(c, (cx, cy), radius * 0.9, width=2, colour=(190, 50, 60))


def _vessel(c: Canvas, centre: tuple[float, float], reach: float, width: int, colour: tuple) -> None:
    """A branching, slightly tortuous vessel starting near the centre (arborizing)."""
    rng = c.rng
    angle = rng.uniform(0, 2 * np.pi)
    point = np.array(centre) + rng.normal(0, reach * 0.15, 2)
    points = [tuple(point)]
    for _ in range(6):
        angle += rng.normal(0, 0.5)
        point = point + reach / 6 * np.array([np.cos(angle), np.sin(angle)])
        points.append(tuple(point))
    c.lines.append((points, colour, width))
    if width > 1:
        branch_from = points[rng.integers(1, 4)]
        _vessel(c, branch_from, reach * 0.5, width - 1, colour)


def _keratotic(c: Canvas, radius: float) -> None:
    size = c.size
    mask = _blob(c, radius, edge=size * 0.05)
    c.image = _blend(c.image, c.main, mask * 0.8)
    scale = _smoothstep(0.5, 0.75, _noise(c.rng, size, 28)) * _blob(c, radius * 0.85, size * 0.05)
    c.image = _blend(c.image, c.accent, scale * 0.85)


def _stuck_on(c: Canvas, radius: float) -> None:
    size = c.size
    mask = _blob(c, radius, edge=size * 0.008)
    texture = _noise(c.rng, size, 70)
    colour = c.main[None, None, :] * (0.8 + 0.4 * texture[..., None])
    c.image = _blend(c.image, colour, mask * 0.95)
    _dots(c, mask, n=int(c.rng.integers(4, 12)), radius=size * 0.006, colour=c.accent * 0.3 + 170, alpha=0.6)


def _dots(c: Canvas, within: np.ndarray, n: int, radius: float, colour: np.ndarray, alpha: float) -> None:
    size = c.size
    ys, xs = np.nonzero(within > 0.8)
    if len(xs) == 0:
        return
    pick = c.rng.integers(0, len(xs), n)
    spots = _spots(
        c.rng, size, np.stack([xs[pick], ys[pick]], 1), c.rng.uniform(0.6, 1.4, n) * radius, blur=1
    )
    c.image = _blend(c.image, colour, spots * alpha)


def _plaque(c: Canvas, radius: float) -> None:
    size, rng = c.size, c.rng
    radius *= 1.5
    mask = _blob(c, radius, edge=size * 0.04)
    for _ in range(rng.integers(0, 3)):
        offset = rng.uniform(-0.3, 0.3, 2) * size
        other = Shape.random(rng, 1.0)
        mask = np.maximum(
            mask,
            _blob(
                c,
                radius * rng.uniform(0.3, 0.6),
                size * 0.04,
                size / 2 + offset[0],
                size / 2 + offset[1],
                shape=other,
            ),
        )
    c.image = _blend(c.image, c.main, mask * 0.85)
    scale = _smoothstep(0.5, 0.72, _noise(rng, size, 90)) * _smoothstep(0.3, 0.6, _noise(rng, size, 8)) * mask
    c.image = _blend(c.image, c.accent, scale * (0.75 if c.look.palette == "psoriasis" else 0.35))


def _annular(c: Canvas, radius: float) -> None:
    size = c.size
    radius *= 1.8
    outer = _blob(c, radius, edge=size * 0.03)
    inner = _blob(c, radius * 0.72, edge=size * 0.06)
    ring = outer * (1 - inner)
    c.image = _blend(c.image, c.main, ring * 0.85 + inner * 0.15)
    if c.look.palette == "target":
        c.image = _blend(c.image, c.accent, _blob(c, radius * 0.3, size * 0.03) * 0.8)
    scale = _smoothstep(0.5, 0.75, _noise(c.rng, size, 80)) * ring
    c.image = _blend(c.image, c.accent if c.look.palette != "target" else WHITE, scale * 0.5)


def _papules(c: Canvas, radius: float) -> None:
    size, rng, key = c.size, c.rng, c.look.palette
    n = int(rng.integers(12, 40)) if c.look.many else int(rng.integers(1, 4))
    centres = _cluster(
        rng, size, n, spread=0.05 if key == "vesicle" else 0.2, band=key == "vesicle" and n > 20
    )
    radii = rng.uniform(0.011, 0.026, n) * size * (2.2 if key in {"wheal", "versicolor"} else 1)
    if key == "vesicle":  # red halo under clear vesicles
        c.image = _blend(c.image, c.accent, _spots(rng, size, centres, radii * 1.8, blur=4) * 0.6)
    spots = _spots(rng, size, centres, radii, blur=1.5)
    c.image = _blend(c.image, c.main, spots * 0.9)
    if key in {"acne", "molluscum", "vesicle"}:  # pustule heads, umbilication, highlights
        heads = _spots(rng, size, centres - radii[:, None] * 0.2, radii * 0.35, blur=1)
        c.image = _blend(c.image, c.accent if key != "vesicle" else WHITE, heads * 0.7)


def _nodule(c: Canvas, radius: float) -> None:
    size, key = c.size, c.look.palette
    yy, xx = _grid(size)
    cx, cy = size * (0.5 + c.shape.dx), size * (0.5 + c.shape.dy)
    mask = _blob(c, radius, edge=size * 0.025)
    height = np.sqrt(np.clip(1 - ((xx - cx) ** 2 + (yy - cy) ** 2) / radius**2, 0, 1))
    lit = 0.86 + 0.18 * height - 0.1 * ((xx - cx) + (yy - cy)) / (2 * radius) * mask
    colour = c.main[None, None, :] * lit[..., None]
    c.image = _blend(c.image, colour, mask * 0.95)
    if key in {"df", "keratin"}:  # pale or keratin centre
        c.image = _blend(c.image, c.accent, _blob(c, radius * 0.35, size * 0.04) * 0.75)
    if key == "cyst":
        c.image = _blend(
            c.image, c.accent, _spots(c.rng, size, np.array([[cx, cy]]), [size * 0.006], 1) * 0.8
        )
    glossy = key in {"cherry", "pg", "strawberry", "keloid", "purple", "violet", "pink", "venous"}
    highlight = np.exp(
        -((xx - cx + radius * 0.35) ** 2 + (yy - cy + radius * 0.35) ** 2) / (radius * 0.18) ** 2
    )
    c.image = _blend(
        c.image, np.array([255, 250, 248], np.float32), highlight * mask * (0.45 if glossy else 0.15)
    )


def _patch(c: Canvas, radius: float) -> None:
    size, rng, key = c.size, c.rng, c.look.palette
    sharp = key in {"depigmented", "cafe", "yellow"}
    mask = _blob(
        c,
        radius * (1.6 if key in {"cellulitis", "wine", "melasma"} else 1.2),
        edge=size * (0.015 if sharp else 0.09),
    )
    mottle = 1.0 if sharp else 0.55 + 0.45 * _noise(rng, size, 9)
    c.image = _blend(c.image, c.main, mask * mottle * 0.9)
    if key in {"xerosis", "velvet"}:  # crazy-paving cracks, or velvety furrows
        cracks = 1 - _smoothstep(-1.45, -0.9, _lattice(c, 0.09 if key == "xerosis" else 0.03, 6))
        c.image = _blend(c.image, c.accent, cracks * mask * 0.55)


def _ulcer(c: Canvas, radius: float) -> None:
    size = c.size
    rim = _blob(c, radius * 1.25, edge=size * 0.06)
    c.image = _blend(
        c.image, c.accent if c.look.palette == "pg_ulcer" else _palette("red", c.skin, c.tone)[0], rim * 0.7
    )
    base = _blob(c, radius, edge=size * 0.02)
    granulation = c.main[None, None, :] * (0.8 + 0.35 * _noise(c.rng, size, 40)[..., None])
    c.image = _blend(c.image, granulation, base)
    slough = _smoothstep(0.55, 0.75, _noise(c.rng, size, 12)) * base
    c.image = _blend(c.image, np.array([222, 196, 120], np.float32), slough * 0.8)


def _spider(c: Canvas, radius: float) -> None:
    size = c.size
    cx, cy = size * (0.5 + c.shape.dx), size * (0.5 + c.shape.dy)
    for angle in np.linspace(0, 2 * np.pi, int(c.rng.integers(6, 11)), endpoint=False):
        angle += c.rng.normal(0, 0.2)
        reach = radius * c.rng.uniform(0.6, 1.1)
        end = (cx + reach * np.cos(angle), cy + reach * np.sin(angle))
        c.lines.append(
            (
                [(cx, cy), ((cx + end[0]) / 2 + c.rng.normal(0, 3), (cy + end[1]) / 2), end],
                tuple(int(v) for v in c.main),
                2,
            )
        )
    c.image = _blend(c.image, c.main, _spots(c.rng, size, np.array([[cx, cy]]), [size * 0.012], 2) * 0.95)


def _hairs(
    c: Canvas,
    n: int,
    length: float,
    width: int,
    avoid: np.ndarray | None = None,
    colour: tuple = (44, 32, 26),
) -> None:
    rng, size = c.rng, c.size
    starts = rng.uniform(0, size, (n, 2))
    if avoid is not None:
        keep = (
            avoid[starts[:, 1].astype(int).clip(0, size - 1), starts[:, 0].astype(int).clip(0, size - 1)]
            < 0.5
        )
        starts = starts[keep]
    base = rng.uniform(0, 2 * np.pi)
    for x, y in starts:
        angle = base + rng.normal(0, 0.35)
        bend = rng.normal(0, 0.25)
        points = [(x, y)]
        for step in range(1, 4):
            a = angle + bend * step
            x, y = x + length / 3 * np.cos(a), y + length / 3 * np.sin(a)
            points.append((x, y))
        c.lines.append((points, colour, width))


def _hair(c: Canvas, radius: float) -> None:
    size, key = c.size, c.look.palette
    bald = _blob(c, radius * 1.3, edge=size * 0.06)
    if key == "scarring":
        c.image = _blend(c.image, _blend_pink(c.skin), bald * 0.5)
    if key == "scaly_scalp":
        c.image = _blend(
            c.image,
            np.array([232, 226, 216], np.float32),
            bald * _smoothstep(0.45, 0.7, _noise(c.rng, size, 40)) * 0.7,
        )
    density = {"thinning": 350, "alopecia": 900, "scarring": 900, "scaly_scalp": 800}.get(key, 800)
    colour = (30, 22, 18) if c.tone > 2 else (82, 58, 40)
    _hairs(c, density, size * 0.18, 2, avoid=None if key == "thinning" else bald, colour=colour)


def _nail(c: Canvas, radius: float) -> None:
    size, key, rng = c.size, c.look.palette, c.rng
    w, h = size * 0.36, size * 0.5
    x0, y0 = size / 2 - w / 2 + rng.normal(0, 6), size * 0.2
    plate = Image.new("L", (size, size), 0)
    ImageDraw.Draw(plate).rounded_rectangle((x0, y0, x0 + w, y0 + h), radius=w * 0.35, fill=255)
    plate_mask = np.asarray(plate.filter(ImageFilter.GaussianBlur(3)), np.float32) / 255
    bed = _blend_pink(c.skin) * 0.7 + c.skin * 0.3
    c.image = _blend(c.image, bed, plate_mask * 0.9)
    yy, xx = _grid(size)
    lunula = plate_mask * _smoothstep(y0 + h * 0.78, y0 + h * 0.86, yy)
    free_edge = plate_mask * _smoothstep(y0 + h * 0.12, y0 + h * 0.04, yy)
    c.image = _blend(c.image, WHITE, np.maximum(lunula, free_edge) * 0.6)
    band_x = x0 + w * rng.uniform(0.3, 0.7)
    features = {
        "melanonychia": (plate_mask * _smoothstep(w * 0.09, w * 0.06, np.abs(xx - band_x)), c.main, 0.9),
        "onychomycosis": (plate_mask * _smoothstep(y0 + h * 0.55, y0 + h * 0.2, yy), c.main, 0.8),
        "haematoma": (plate_mask * _blob(c, radius * 0.7, size * 0.05), c.main, 0.9),
        "paronychia": ((1 - plate_mask) * _blob(c, radius * 1.6, size * 0.1), c.main, 0.7),
    }
    mask, colour, alpha = features.get(key, (None, None, 0))
    if mask is not None:
        c.image = _blend(c.image, colour, mask * alpha)
    if key == "pitting":
        _dots(c, plate_mask, n=18, radius=size * 0.006, colour=c.skin * 0.6, alpha=0.6)


RENDERERS = {
    "pigmented": lambda c, r: _pigmented(c, r, atypical=c.look.derm == "atypical"),
    "pearly": _pearly,
    "keratotic": _keratotic,
    "stuck_on": _stuck_on,
    "plaque": _plaque,
    "annular": _annular,
    "papules": _papules,
    "nodule": _nodule,
    "patch": _patch,
    "ulcer": _ulcer,
    "spider": _spider,
    "hair": _hair,
    "nail": _nail,
}

PALETTE_OVERRIDES = {
    "melanonychia": "brown",
    "onychomycosis": "yellow",
    "haematoma": "venous",
    "paronychia": "red",
    "pitting": "skin",
    "alopecia": "skin",
    "thinning": "skin",
    "scarring": "skin",
    "scaly_scalp": "skin",
}


# --- dermoscopic patterns -----------------------------------------------------------------------------------


def _lattice(c: Canvas, cell: float, warp: float) -> np.ndarray:
    """A warped honeycomb field in [-1.5, 3]: three waves 120 degrees apart (low values are the walls)."""
    size = c.size
    yy, xx = _grid(size)
    shift = (_noise(c.rng, size, 6) - 0.5) * warp + (_noise(c.rng, size, 24) - 0.5) * 1.5
    k = 2 * np.pi / (size * cell)
    u, v = xx * k + shift, yy * k + shift * 1.3
    return np.cos(u) + np.cos(-0.5 * u + 0.866 * v) + np.cos(-0.5 * u - 0.866 * v)


def _network(c: Canvas, mask: np.ndarray, irregular: bool) -> None:
    """Pigment network: regular and fading at the edge, or broken and thick (atypical)."""
    lines = 1 - _smoothstep(-1.2, 0.6, _lattice(c, 0.055 if irregular else 0.045, 9 if irregular else 5))
    if irregular:
        lines *= _smoothstep(0.3, 0.6, _noise(c.rng, c.size, 14))
    c.image = _blend(
        c.image, c.accent, lines * (mask if irregular else mask**2) * (0.85 if irregular else 0.6)
    )


def _derm_atypical(c: Canvas, mask: np.ndarray, radius: float) -> None:
    size = c.size
    _network(c, mask, irregular=True)
    veil = _smoothstep(0.6, 0.8, _noise(c.rng, size, 5)) * _blob(c, radius * 0.7, size * 0.08)
    c.image = _blend(c.image, np.array([120, 140, 168], np.float32), veil * 0.65)
    rim = mask * (1 - _blob(c, radius * 0.75, size * 0.05))
    _dots(c, rim, n=25, radius=size * 0.007, colour=c.accent * 0.6, alpha=0.9)


def _derm_arborizing(c: Canvas, mask: np.ndarray, radius: float) -> None:
    size = c.size
    nests = _spots(c.rng, size, _cluster(c.rng, size, 4, 0.07), c.rng.uniform(0.02, 0.04, 4) * size, blur=6)
    c.image = _blend(c.image, np.array([90, 100, 125], np.float32), nests * mask * 0.7)
    centre = (size * (0.5 + c.shape.dx), size * (0.5 + c.shape.dy))
    for _ in range(c.rng.integers(4, 8)):
        _vessel(c, centre, radius * 1.1, width=4, colour=(176, 30, 48))


def _derm_cysts(c: Canvas, mask: np.ndarray, radius: float) -> None:
    size = c.size
    _dots(c, mask, n=14, radius=size * 0.012, colour=np.array([240, 232, 205], np.float32), alpha=0.85)
    _dots(c, mask, n=10, radius=size * 0.01, colour=c.accent * 0.5, alpha=0.85)


def _derm_lacunae(c: Canvas, mask: np.ndarray, radius: float) -> None:
    _dots(c, mask, n=40, radius=c.size * 0.022, colour=c.accent, alpha=0.9)


def _derm_dots(c: Canvas, mask: np.ndarray, radius: float) -> None:
    """Regular dotted vessels, or white follicular openings in a red pseudo-network (strawberry)."""
    size, strawberry = c.size, c.look.derm == "strawberry"
    grid = np.stack(np.meshgrid(np.arange(0, size, size / 22), np.arange(0, size, size / 22)), -1).reshape(
        -1, 2
    )
    grid = grid + c.rng.normal(0, size * 0.006, grid.shape)
    inside = mask[grid[:, 1].astype(int).clip(0, size - 1), grid[:, 0].astype(int).clip(0, size - 1)] > 0.5
    colour = np.array([236, 226, 210], np.float32) if strawberry else np.array([170, 30, 50], np.float32)
    radii = np.full(int(inside.sum()), size * (0.011 if strawberry else 0.005))
    c.image = _blend(c.image, colour, _spots(c.rng, size, grid[inside], radii, blur=1.2) * 0.85)
    if c.look.palette in {"psoriasis", "ak", "scc", "tinea"}:
        c.image = _blend(c.image, WHITE, _smoothstep(0.6, 0.8, _noise(c.rng, size, 18)) * mask * 0.7)


def _derm_central_white(c: Canvas, mask: np.ndarray, radius: float) -> None:
    size = c.size
    _network(c, mask * (1 - _blob(c, radius * 0.5, size * 0.05)), irregular=False)
    c.image = _blend(c.image, WHITE, _blob(c, radius * 0.4, size * 0.06) * 0.8)


DERM_PATTERNS = {
    "network": lambda c, mask, radius: _network(c, mask, irregular=False),
    "atypical": _derm_atypical,
    "arborizing": _derm_arborizing,
    "cysts": _derm_cysts,
    "lacunae": _derm_lacunae,
    "dotted": _derm_dots,
    "strawberry": _derm_dots,
    "central_white": _derm_central_white,
}


def _derm_lesion(c: Canvas) -> None:
    """One lesion (or a few papules) magnified, with the structures of its dermoscopic pattern."""
    size, key, pattern = c.size, c.look.palette, c.look.derm
    radius = size * 0.27
    edge = 0.01 if pattern == "cysts" else 0.05 if pattern == "atypical" else 0.035
    mask = _blob(c, radius, edge=size * edge)
    heads = None  # pustule heads, umbilication or vesicle sheen on magnified papules
    if c.look.many:
        n = int(c.rng.integers(2, 6))
        centres, radii = _cluster(c.rng, size, n, 0.15), c.rng.uniform(0.08, 0.15, n) * size
        mask = _spots(c.rng, size, centres, radii, blur=3)
        if key in {"acne", "molluscum", "vesicle"}:
            heads = _spots(c.rng, size, centres, radii * 0.35, blur=3)
    elif c.look.clinical == "annular":
        mask = mask * (1 - _blob(c, radius * 0.65, edge=size * 0.08))
    calm = c.look.clinical in {"patch", "papules"} or pattern == "structureless"
    structure = 0.9 + 0.1 * _noise(c.rng, size, 20) if calm else 0.7 + 0.3 * _noise(c.rng, size, 20)
    c.image = _blend(
        c.image,
        c.main[None, None, :] * structure[..., None],
        mask * (0.55 if pattern in {"dotted", "strawberry"} else 0.9),
    )
    if heads is not None:
        c.image = _blend(c.image, c.accent if key != "vesicle" else WHITE, heads * 0.6)
    if pattern in DERM_PATTERNS:
        DERM_PATTERNS[pattern](c, mask, radius)


def _derm_full_field(c: Canvas) -> None:
    size = c.size
    if c.look.derm == "follicles":
        grid = c.rng.uniform(0, size, (90, 2))
        key = c.look.palette
        colour = np.array([210, 180, 90], np.float32) if key == "alopecia" else c.skin * 0.55
        c.image = _blend(
            c.image, colour, _spots(c.rng, size, grid, np.full(90, size * 0.008), blur=1.5) * 0.8
        )
        n = {"thinning": 40, "alopecia": 12, "scarring": 10}.get(key, 30)
        hair_colour = (30, 22, 18) if c.tone > 2 else (82, 58, 40)
        _hairs(c, n, size * 0.5, 6 if key != "thinning" else 3, colour=hair_colour)
    else:  # nail: magnified plate with longitudinal ridges
        _nail(c, size * 0.25)
        yy, xx = _grid(size)
        ridges = _smoothstep(0.8, 1.0, np.abs(np.sin(xx * 2 * np.pi / (size * 0.03))))
        c.image = _blend(c.image, WHITE, ridges * 0.08)


@lru_cache(maxsize=4)
def _dermoscope_field(size: int) -> Image.Image:
    """The dermoscope's circular field: light inside with a gentle vignette, black outside."""
    yy, xx = _grid(size)
    distance = np.hypot(xx - size / 2, yy - size / 2) / (size * 0.47)
    vignette = (1 - 0.35 * np.clip(distance, 0, 1) ** 3) * _smoothstep(1.0, 0.985, distance)
    return Image.fromarray((vignette * 255).astype(np.uint8), "L").convert("RGB")


# --- entry point -----------------------------------------------------------------------------------------


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return buffer.getvalue()


def _finish(c: Canvas, size: int) -> Image.Image:
    """Upscale the working arrays to ``size`` and draw the vector strokes (vessels, hairs) sharply."""
    image = Image.fromarray(np.clip(c.image, 0, 255).astype(np.uint8), "RGB")
    if size != c.size:
        image = image.resize((size, size), Image.BICUBIC)
    scale = size / c.size
    draw = ImageDraw.Draw(image)
    for points, colour, width in c.lines:
        draw.line(
            [(float(x) * scale, float(y) * scale) for x, y in points],
            fill=tuple(int(v) for v in colour),
            width=max(1, round(width * scale * 0.75)),
            joint="curve",
        )
    return image


def draw_case_images(
    *, condition_code: str, group: str, malignant: bool, skin_tone: int, seed: int, size: int = 512
) -> dict[str, bytes]:
    """JPEG bytes for a "clinical" and a "dermoscopic" picture, the same for the same arguments."""
    if skin_tone not in FITZPATRICK_RGB:
        raise ValueError(f"skin_tone must be a Fitzpatrick type 1..6, got {skin_tone!r}")
    look = look_for(condition_code, group, malignant)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(condition_code.encode()), skin_tone, size])
    skin = np.array(FITZPATRICK_RGB[skin_tone], np.float32) * rng.uniform(0.95, 1.04, 3).astype(np.float32)
    main, accent = _palette(PALETTE_OVERRIDES.get(look.palette, look.palette), skin, skin_tone)
    irregular = 1.35 if look.derm == "atypical" else 0.9 if look.clinical in {"patch", "plaque"} else 0.45
    shape = Shape.random(rng, irregular)
    work = max(64, size // 2)  # the array work runs at half size: four times fewer pixels
    images = {}
    for role in ("clinical", "dermoscopic"):
        dermoscopic = role == "dermoscopic"
        canvas = Canvas(
            rng,
            work,
            skin,
            skin_tone,
            look,
            shape,
            main,
            accent,
            _skin_background(rng, work, skin, dermoscopic),
            [],
        )
        if not dermoscopic:
            RENDERERS[look.clinical](canvas, work * rng.uniform(0.11, 0.19))
            if look.clinical not in {"hair", "nail"} and rng.random() < 0.35:
                _hairs(canvas, int(rng.integers(10, 40)), work * 0.12, 1, colour=(50, 38, 30))
            picture = _finish(canvas, size)
        else:
            if look.derm in {"follicles", "nail"}:
                _derm_full_field(canvas)
            else:
                _derm_lesion(canvas)
                if rng.random() < 0.3:
                    _hairs(canvas, int(rng.integers(3, 8)), work * 0.5, 3, colour=(45, 34, 28))
            picture = ImageChops.multiply(_finish(canvas, size), _dermoscope_field(size))
        images[role] = _jpeg(picture)
    return images
