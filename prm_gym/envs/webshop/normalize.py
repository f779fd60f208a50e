"""String rules WebShop's purchase reward applies before comparing: colour names and fuzzy scores.

Both follow princeton-nlp/WebShop:

* :func:`normalize_color` is the rule of ``web_agent_site/engine/normalize.py:normalize_color``:
  the first name of WebShop's colour list (alphabetical, 102 names) that occurs *anywhere* in the
  string, as a plain case-sensitive substring, replaces the whole string; a string containing
  none is returned unchanged. So ``"navy blue"`` becomes ``"blue"`` (``blue`` sorts before
  ``navy``), ``"light grey"`` becomes ``"grey"``, and, because the test is a raw substring,
  ``"standard"`` becomes ``"tan"`` and ``"washed"`` becomes ``"ash"``. WebShop applies it to every
  option value (goal and purchase), whatever the option group.
* :func:`fuzzy_score` is ``thefuzz.fuzz.token_set_ratio`` as WebShop calls it (``goal.py``): both
  strings lose non-ASCII characters, every character that is not a letter or digit becomes a
  space, they are lower-cased and stripped, and rapidfuzz's token-set ratio is rounded to an
  integer (Python's ``round``). WebShop counts a match when the score is ``> 85``
  (:data:`FUZZY_THRESHOLD`), so ``"x-small"`` and ``"small"`` score 100 while ``"xl"`` and
  ``"x-large"`` score 22.

``normalize.py`` also maps sizes onto coarse patterns (``normalize_color_size``), but WebShop uses
that only for its product-price table, never in the reward, so it is not reproduced here; the
reward's size rule (exact equality for the ``size`` option group) lives in
:mod:`prm_gym.envs.webshop.reward`.
"""

from __future__ import annotations

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

__all__ = ["COLOR_NAMES", "FUZZY_THRESHOLD", "fuzzy_match", "fuzzy_score", "normalize_color"]

#: WebShop's colour vocabulary, in the order it is searched (alphabetical: the first hit wins).
COLOR_NAMES: tuple[str, ...] = tuple(sorted("""
    alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown
    burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee
    cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso fuchsia gold
    granite grape graphite grass gray green grey heather indigo ivory ivy khaki lavender lemon
    leopard light lilac lime magenta maroon mauve merlot midnight mint mocha multicolor mushroom
    mustard natural navy nude olive orange peach pewter pink plum purple rainbow red rose royal
    rust sand sapphire seashell silver skull slate steel stone stonewash sunflower tan taupe teal
    tiger turquoise violet walnut wheat white wine yellow
""".split()))  # fmt: skip

#: A fuzzy score strictly above this counts as a match (WebShop's ``score > 85``).
FUZZY_THRESHOLD = 85


def normalize_color(value: str) -> str:
    """The first of :data:`COLOR_NAMES` found as a substring of ``value``, else ``value``.

    >>> normalize_color("navy blue"), normalize_color("rose gold"), normalize_color("xl")
    ('blue', 'gold', 'xl')
    """
    for name in COLOR_NAMES:
        if name in value:
            return name
    return value


def _process(text: str) -> str:
    ascii_only = text.encode("ascii", "ignore").decode("ascii")
    return str(default_process(ascii_only))


def fuzzy_score(a: str, b: str) -> int:
    """thefuzz's ``token_set_ratio(a, b)`` (0–100, rounded; 0 when either string is empty after
    processing), computed with rapidfuzz."""
    return round(fuzz.token_set_ratio(_process(a), _process(b)))


def fuzzy_match(a: str, b: str) -> bool:
    """WebShop's fuzzy test: :func:`fuzzy_score` ``> 85``."""
    return fuzzy_score(a, b) > FUZZY_THRESHOLD
