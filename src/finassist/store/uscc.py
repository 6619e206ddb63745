"""Unified social credit codes (统一社会信用代码, GB 32100-2015): check digits and validation.

An 18-character code is: registration authority (1) + organisation type (1) + administrative
division (6) + organisation code (9, itself ending in a GB 11714 check character) + check (1).

>>> uscc_check_digit("91350100M000100Y4")
'3'
>>> is_valid_uscc("91350100M000100Y43")
True
"""

from __future__ import annotations

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

_VALUE = {char: index for index, char in enumerate(USCC_CHARSET)}


def uscc_check_digit(first17: str) -> str:
    """The 18th character for the first 17 (GB 32100-2015: 31 - sum mod 31, where 31 means 0).

    Raises ``ValueError`` when ``first17`` is not 17 characters of the code's alphabet.
    """
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    try:
        total = sum(
            _VALUE[char] * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True)
        )
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not allowed in a USCC") from None
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when ``code`` is 18 characters of the alphabet and its check character matches.

    Only the check character is verified; the organisation code's own GB 11714 check is not,
    because codes issued to some organisation types do not follow it.
    """
    if len(code) != 18 or any(char not in _VALUE for char in code):
        return False
    return uscc_check_digit(code[:17]) == code[17]


def org_code_check_digit(first8: str) -> str:
    """The 9th character of an organisation code (GB 11714: 11 - sum mod 11; 10 is X, 11 is 0).

    Digits count as themselves and letters as A=10 ... Z=35.
    """
    if len(first8) != 8:
        raise ValueError(f"expected 8 characters, got {len(first8)}")
    total = sum(
        (int(char) if char.isdigit() else ord(char) - 55) * weight
        for char, weight in zip(first8, ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)
