"""Conditions a clinician confuses with one another, as data: the simulated assistant's distractors.

Each family groups conditions that look alike in one presentation (morphology at a typical site),
as a dermatology differential would list them: a pigmented lesion's differential is other pigmented
lesions, a scaly plaque's is other scaly plaques. A condition's look-alikes are the union of its
families. Codes are those of the shipped taxonomy (catalog/data/taxonomy_default.json); for
codes not listed here (another taxonomy) the look-alikes are the conditions of the same group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

FAMILIES: dict[str, tuple[str, ...]] = {
    "pigmented lesion (dermoscopy)": ("MEL", "LM", "NEV", "CNEV", "BLUE_NEV", "SPITZ", "DN", "SK", "DPN",
                                      "SOLAR_LENTIGO", "EPHELIDES", "DF", "BCC", "ANGIOKERATOMA"),
    "sun-damaged skin, keratotic (face, scalp, hands)": ("AK", "BOWEN", "SCC", "KA", "BCC", "SK", "CUT_HORN",
                                                         "POROK", "ACTINIC_CHEILITIS", "CNH", "WART"),
    "pearly or skin-coloured papule/nodule": ("BCC", "SH", "MOLLUSCUM", "MILIA", "EIC", "CNEV", "DF", "NEUROFIBROMA",
                                              "LIPOMA", "KELOID", "DFSP", "MCC", "CUT_MET", "KA", "ACRO", "XANTHELASMA"),
    "red or purple vascular papule": ("CHERRY_ANGIOMA", "PYOGENIC_GRANULOMA", "ANGIOKERATOMA", "VENOUS_LAKE",
                                      "SPIDER_NAEVUS", "INFANTILE_HAEMANGIOMA", "PORT_WINE_STAIN", "KS", "MCC",
                                      "BLUE_NEV", "CUT_MET"),
    "scaly red plaques (trunk, limbs)": ("PSO", "GPSO", "NUM", "AD", "LSC", "TINEA_CORPORIS", "PR", "BOWEN", "MF",
                                         "SD", "LP", "ALLERGIC_CD", "IRRITANT_CD", "STASIS", "SYPHILIS", "POROK"),
    "annular lesions": ("TINEA_CORPORIS", "GA", "NUM", "PR", "EM", "URT", "LYME", "PSO", "POROK", "TINEA_VERSICOLOR"),
    "hands and feet": ("DYS", "ALLERGIC_CD", "IRRITANT_CD", "PSO", "TINEA_PEDIS", "CALLUS", "WART", "AD", "SCABIES",
                       "XEROSIS"),
    "flexures and groin": ("INTERTRIGO", "CANDIDA", "TINEA_CRURIS", "SD", "PSO", "ALLERGIC_CD", "IRRITANT_CD", "HS",
                           "ACANTHOSIS_NIGRICANS"),
    "face: papules, pustules, redness": ("ACNE", "ROS", "POD", "SD", "FOLLICULITIS", "ALLERGIC_CD", "MILIA",
                                         "IMPETIGO", "SH", "KP"),
    "pustules, boils and crusts": ("FOLLICULITIS", "ABSCESS", "IMPETIGO", "HS", "ACNE", "EIC", "HSV", "HZ",
                                   "INSECT_BITE", "SCABIES", "PARONYCHIA"),
    "vesicles and blisters": ("HSV", "HZ", "IMPETIGO", "INSECT_BITE", "DYS", "ALLERGIC_CD", "EM", "SCABIES"),
    "red, warm, swollen lower leg": ("CELLULITIS", "STASIS", "ABSCESS", "VASCULITIS", "ALLERGIC_CD", "LYME",
                                     "INSECT_BITE", "PYODERMA_GANGRENOSUM"),
    "leg ulcer": ("VENOUS_ULCER", "PYODERMA_GANGRENOSUM", "VASCULITIS", "SCC", "STASIS", "ABSCESS", "BCC"),
    "wheals, targets and bites": ("URT", "EM", "INSECT_BITE", "VASCULITIS", "SCABIES", "LYME", "GA"),
    "pale patches": ("VITILIGO", "PITYRIASIS_ALBA", "TINEA_VERSICOLOR", "IGH", "PIH", "LS", "MF"),
    "brown or grey-blue patches": ("MELASMA", "PIH", "SOLAR_LENTIGO", "EPHELIDES", "CALM", "ACANTHOSIS_NIGRICANS",
                                   "TINEA_VERSICOLOR", "CDM", "LM", "BLUE_NEV"),
    "itchy papules and nodules": ("LSC", "INSECT_BITE", "SCABIES", "LP", "AD", "DF", "KP", "URT", "GPSO"),
    "hair loss (scalp)": ("AA", "AGA", "TE", "LPP", "TINEA_CAPITIS", "SD", "PSO", "LS"),
    "nails": ("ONYCHOMYCOSIS", "NAIL_PSO", "PARONYCHIA", "INGROWN_NAIL", "MELANONYCHIA", "SUBUNGUAL_HAEMATOMA",
              "WART", "LP"),
    "dry, rough skin": ("XEROSIS", "AD", "KP", "IRRITANT_CD", "PSO", "TINEA_PEDIS", "CALLUS"),
}

_BY_CODE: dict[str, frozenset[str]] = {}
for _codes in FAMILIES.values():
    for _code in _codes:
        _BY_CODE[_code] = _BY_CODE.get(_code, frozenset()) | frozenset(_codes)


def lookalikes(truth: str, codes: Iterable[str], groups: Mapping[str, str] | None = None) -> list[str]:
    """Codes among `codes` a clinician would put beside `truth` in a differential (never `truth` itself).

    From the families above when `truth` is listed there, else the conditions of `truth`'s group.
    """
    codes = list(codes)
    family = _BY_CODE.get(truth)
    if family:
        near = [c for c in codes if c in family and c != truth]
        if near:
            return near
    group = (groups or {}).get(truth)
    return [c for c in codes if c != truth and group and (groups or {}).get(c) == group]
