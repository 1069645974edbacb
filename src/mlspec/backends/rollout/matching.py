"""Request matching shared by the controllers: header names and the cookie expression.

Istio, Argo Rollouts and Flagger all match headers with Envoy's RE2. A cookie is not a header
of its own but one `name=value` pair in the Cookie header, so it is matched by a regular
expression that finds the pair among any others.
"""

from __future__ import annotations

_RE2_SPECIAL = frozenset(r"\.+*?()|[]{}^$")


def header_name(name: str) -> str:
    """Envoy sees HTTP/2 (and normalised HTTP/1) header names in lower case."""
    return name.lower()


def cookie_regex(name: str, value: str) -> str:
    """RE2 that fully matches a Cookie header holding `name=value` as one of its pairs.
    Browsers separate pairs with '; ' (RFC 6265 5.4), so spaces may follow a ';'."""
    return rf"^(.*?;\s*)?({re2_literal(name)}={re2_literal(value)})(;.*)?$"


def re2_literal(text: str) -> str:
    # Only the metacharacters: re.escape would also escape '-', '#', '&', '~' and spaces,
    # which RE2 reads as themselves anyway, and the expression would be harder to review.
    return "".join(f"\\{c}" if c in _RE2_SPECIAL else c for c in text)
