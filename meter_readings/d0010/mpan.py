"""MPAN cores: check digit and distributor id (spec §5)."""

from dataclasses import dataclass
from operator import mul
from typing import Final

CHECK_DIGIT_WEIGHTS: Final = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
# Weighting the ASCII codes adds this much more than weighting the digits' values.
_ASCII_ZERO_WEIGHT: Final = ord("0") * sum(CHECK_DIGIT_WEIGHTS)

# Distributor id (first two digits) -> market participant id. 10-23 are the DNO licence
# areas; 24 and above are IDNOs as listed by the `mpan` package (MDD is the authority).
DISTRIBUTORS: Final[dict[str, str]] = {
    "10": "EELC",
    "11": "EMEB",
    "12": "LOND",
    "13": "MANW",
    "14": "MIDE",
    "15": "NEEB",
    "16": "NORW",
    "17": "HYDE",
    "18": "SPOW",
    "19": "SEEB",
    "20": "SOUT",
    "21": "SWAE",
    "22": "SWEB",
    "23": "YELG",
    "24": "IPNL",
    "25": "LENG",
    "26": "GUCL",
    "27": "ETCL",
    "28": "EDFI",
    "29": "HARL",
    "30": "PENL",
    "31": "UKPD",
    "32": "UDNL",
    "33": "GGEN",
    "34": "MPDL",
    "35": "FEAL",
    "36": "VATT",
    "37": "FORB",
    "38": "INDI",
}

# AMSIDs sit in the MPAN Core field where an AMVLP is involved (spec §5.3).
AMSID_SVAA_PREFIX: Final = "77"
AMSID_AMVLP_PREFIX: Final = "78"


def has_valid_check_digit(core: str) -> bool:
    """True if the 13th digit of ``core`` (13 ASCII digits) is its check digit."""
    # The weighted sum of the first twelve digits, mod 11, mod 10 (spec 5.1), on their
    # ASCII codes so that it runs in C: this is done for every 026. ``map`` stops at the
    # twelfth code, the weights being twelve.
    codes = core.encode("ascii")
    total = sum(map(mul, codes, CHECK_DIGIT_WEIGHTS)) - _ASCII_ZERO_WEIGHT
    return total % 11 % 10 == codes[12] - 48


@dataclass(frozen=True, slots=True)
class MpanCoreCheck:
    """What can be said of a well-formed 13-digit core without MDD."""

    distributor_id: str
    is_amsid: bool
    # None where no check digit applies (AMVLP-registered AMSIDs).
    check_digit_valid: bool | None
    known_distributor: bool


def check_mpan_core(core: str) -> MpanCoreCheck:
    """Check the distributor id and check digit of a core.

    ``core`` must be exactly 13 ASCII digits (callers check the shape first).
    """
    distributor_id = core[:2]
    is_amsid = distributor_id in (AMSID_SVAA_PREFIX, AMSID_AMVLP_PREFIX)
    if distributor_id == AMSID_AMVLP_PREFIX:
        check_digit_valid = None
    else:
        check_digit_valid = has_valid_check_digit(core)
    return MpanCoreCheck(
        distributor_id=distributor_id,
        is_amsid=is_amsid,
        check_digit_valid=check_digit_valid,
        known_distributor=is_amsid or distributor_id in DISTRIBUTORS,
    )


def is_well_formed_core(text: str) -> bool:
    """True if ``text`` is exactly 13 ASCII digits."""
    return len(text) == 13 and text.isascii() and text.isdigit()
