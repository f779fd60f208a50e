"""prm/WebShop-v0's purchase reward against WebShop's own rules (``web_agent_site/engine/goal.py``).

Three checks, none of which runs WebShop (its reward needs spaCy's large model and Java):

1. **Hand-checked cases**: purchases whose option / attribute match count was worked out by hand
   from WebShop's rules (colour normalisation, exact size match, fuzzy score > 85, text
   fallback); each row prints the rule it exercises and whether our count agrees.
2. **Fuzzy score vs thefuzz** (when ``thefuzz``, WebShop's fuzzy-matching library, is installed:
   ``pip install thefuzz``): our :func:`~prm_gym.envs.webshop.normalize.fuzzy_score` equals
   ``thefuzz.fuzz.token_set_ratio`` on every pair of option values and attributes of the
   generated catalog, plus random punctuated strings.
3. **Random purchases** on the generated catalog (a goal, then the target or another product,
   each option group chosen with probability 0.8): invariants (the target bought with the goal's
   options scores 1; options_matched ≤ |goal options|; 0 ≤ R ≤ 1), and, given a git revision
   holding the previous reward (``--baseline-rev``), the share of purchases whose reward
   changed and in which direction. Half of the goals keep only some option groups, as human
   goals do, to count how often the cap on options_matched binds.

    PYTHONPATH=. python benchmarks/webshop_parity.py [--purchases 20000] [--baseline-rev REV]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prm_gym.envs.webshop import Product, generate_catalog, generate_goal
from prm_gym.envs.webshop.normalize import fuzzy_score
from prm_gym.envs.webshop.reward import attribute_matches, option_matches, purchase_reward

ROOT = Path(__file__).resolve().parent.parent


def _product(title: str = "Acme Mug", bullets: Sequence[str] = (), description: str = "",
             attributes: Sequence[str] = ()) -> Product:  # fmt: skip
    return Product(
        asin="B0PARITY01", title=title, category="kitchen", product_type="mug", query="mug",
        breadcrumb=("kitchen", "mug"), attributes=tuple(attributes), options=(), price=10.0,
        description=description, bullets=tuple(bullets), reviews=(),
    )  # fmt: skip


# (rule exercised, product, goal option values, chosen {group: value}, WebShop's count)
OPTION_CASES: list[tuple[str, Product, list[str], dict[str, str], int]] = [
    (
        "colour: goal 'navy blue' normalises to 'blue'",
        _product(),
        ["navy blue"],
        {"color": "blue"},
        1,
    ),
    (
        "colour: chosen 'navy blue' -> 'blue' does not match goal 'navy'",
        _product(),
        ["navy"],
        {"color": "navy blue"},
        0,
    ),
    (
        "colour: 'light grey' and 'grey' both normalise to 'grey'",
        _product(),
        ["light grey"],
        {"color": "grey"},
        1,
    ),
    (
        "colour: raw substring, 'standard' normalises to 'tan'",
        _product(),
        ["tan"],
        {"style": "standard"},
        1,
    ),
    ("size: exact, 'xl' is not 'x-large'", _product(), ["x-large"], {"size": "xl"}, 0),
    (
        "size: exact, 'small' is not 'x-small' (fuzzy would say 100)",
        _product(),
        ["x-small"],
        {"size": "small"},
        0,
    ),
    (
        "size: exact and case-sensitive, goal 'Small' vs 'small'",
        _product(),
        ["Small"],
        {"size": "small"},
        0,
    ),
    (
        "size: group name compared lower-cased ('Size')",
        _product(),
        ["x-small"],
        {"Size": "small"},
        0,
    ),
    ("size: equal values match", _product(), ["small", "navy"], {"size": "small"}, 1),
    (
        "fuzzy: other groups, 'small' vs 'x-small' scores 100",
        _product(),
        ["x-small"],
        {"style": "small"},
        1,
    ),
    (
        "fuzzy: token sets, 'pack of 12' vs '12 pack'",
        _product(),
        ["pack of 12"],
        {"style": "12 pack"},
        1,
    ),
    (
        "fuzzy: 'medium' vs 'medium weight' (a token set contains the other)",
        _product(),
        ["medium weight"],
        {"weight": "medium"},
        1,
    ),
    ("fuzzy: 'oak' vs 'walnut' no", _product(), ["oak"], {"color": "walnut"}, 0),
    (
        "text fallback: wrong colour found in the title",
        _product(title="Acme White Mug"),
        ["red"],
        {"color": "white"},
        1,
    ),
    (
        "text fallback: wrong size found in the description",
        _product(description="a medium weight mug"),
        ["large"],
        {"size": "medium"},
        1,
    ),
    (
        "text fallback: bullets joined by spaces",
        _product(bullets=["in 12", "pack"]),
        ["single"],
        {"size": "12 pack"},
        1,
    ),
    (
        "count per chosen option: goal value repeated",
        _product(),
        ["navy", "navy"],
        {"color": "navy"},
        1,
    ),
    (
        "count per chosen option: two chosen match one goal value (WebShop 2, capped to 1 in R)",
        _product(),
        ["navy"],
        {"color": "navy", "style": "navy"},
        2,
    ),
    ("no option chosen", _product(), ["navy", "small"], {}, 0),
]

# (rule exercised, product, goal attribute, WebShop's verdict)
ATTRIBUTE_CASES: list[tuple[str, Product, str, bool]] = [
    ("fuzzy: 'essential oils' vs product attribute 'essential oil'",
     _product(attributes=["essential oil"]), "essential oils", True),
    ("fuzzy: punctuation ignored, 'non-gmo' vs 'non gmo'", _product(attributes=["non gmo"]),
     "non-gmo", True),
    ("substring of the title (lower-cased)", _product(title="Acme Tea Tree Shampoo"),
     "tea tree", True),
    ("substring across bullets joined by spaces", _product(bullets=["made with tea", "tree oil"]),
     "tea tree", True),
    ("goal attribute is not lower-cased for the substring test",
     _product(title="acme tea tree shampoo"), "Tea Tree", False),
    ("no match", _product(title="English breakfast tea", attributes=["tea bag"]),
     "natural ingredients", False),
]  # fmt: skip


def hand_checked() -> int:
    """Print the hand-checked table; the number of disagreements."""
    bad = 0
    print("hand-checked option cases (count of matched chosen options, WebShop's rule)")
    for rule, product, goal, chosen, expected in OPTION_CASES:
        got = option_matches(product, chosen, goal)
        bad += got != expected
        print(f"  {'ok ' if got == expected else 'BAD'} {got} (WebShop {expected})  {rule}")
    print("hand-checked attribute cases")
    for rule, product, attribute, want in ATTRIBUTE_CASES:
        got_attr = attribute_matches(attribute, product)
        bad += got_attr != want
        print(f"  {'ok ' if got_attr == want else 'BAD'} {got_attr!s:5} (WebShop {want!s:5})  "
              f"{rule}")  # fmt: skip
    return bad


def fuzzy_vs_thefuzz() -> int | None:
    """Disagreements of our fuzzy score with thefuzz's, or ``None`` when it is not installed."""
    try:
        fuzz = importlib.import_module("thefuzz.fuzz")
    except ImportError:
        print("fuzzy score vs thefuzz: skipped (pip install thefuzz)")
        return None
    catalog = generate_catalog(300, seed=0)
    words = sorted({v for p in catalog for _, vals in p.options for v in vals}
                   | {a for p in catalog for a in p.attributes}
                   | {"x-large", "xl", "x-small", "pack of 12", "12 pack", "navy blue", "Café",
                      "non-gmo", "3.4 fl oz", "", "  ", "--"})  # fmt: skip
    rng = random.Random(0)
    pairs = [(a, b) for a in words for b in words]
    alphabet = "ab x-l/1.é "
    for _ in range(20000):
        pairs.append(tuple("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
                           for _ in range(2)))  # type: ignore[arg-type]  # fmt: skip
    bad = sum(fuzzy_score(a, b) != fuzz.token_set_ratio(a, b) for a, b in pairs)
    print(f"fuzzy score vs thefuzz.fuzz.token_set_ratio: {len(pairs) - bad}/{len(pairs)} equal")
    return bad


def _baseline(rev: str) -> Callable[..., Any] | None:
    """``purchase_reward`` as of git revision ``rev`` (``None`` when git cannot show it)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{rev}:prm_gym/envs/webshop/reward.py"],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(tempfile.mkdtemp()) / "baseline_reward.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_reward", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return getattr(module, "purchase_reward", None)


def random_purchases(n: int, baseline_rev: str | None) -> int:
    """Check invariants on ``n`` random purchases; print the change against the baseline."""
    catalog = generate_catalog(1000, seed=0)
    baseline = _baseline(baseline_rev) if baseline_rev else None
    rng = random.Random(1)
    violations = 0
    changed_up = changed_down = capped = 0
    changed_by_style = [0, 0]  # goals with every option group / with some left out
    deltas: list[float] = []
    for seed in range(n):
        goal: dict[str, Any] = dict(generate_goal(catalog, seed).answer)
        target = catalog.get(goal["asin"])
        assert target is not None
        full = purchase_reward(target, dict(goal["options"]), goal)
        if full.reward != 1.0:
            violations += 1
            print(f"  VIOLATION seed {seed}: target with the goal's options scores {full.reward}")
        if seed % 2:  # human-style goal: some option groups left out
            kept = [k for k in goal["options"] if rng.random() < 0.5]
            goal["options"] = {k: goal["options"][k] for k in kept}
        roll = rng.random()
        if roll < 0.5:
            product = target
        elif roll < 0.75:
            product = rng.choice([p for p in catalog if p.category == target.category])
        else:
            product = catalog[rng.randrange(len(catalog))]
        chosen = {g: rng.choice(vals) for g, vals in product.options if rng.random() < 0.8}
        score = purchase_reward(product, chosen, goal)
        raw = option_matches(product, chosen, list(dict(goal["options"]).values()))
        capped += raw > score.num_options
        if not (0.0 <= score.reward <= 1.0 and score.options_matched <= score.num_options):
            violations += 1
            print(f"  VIOLATION seed {seed}: {score}")
        if baseline is not None:
            old = baseline(product, list(chosen.values()), goal).reward
            delta = score.reward - old
            changed_up += delta > 1e-12
            changed_down += delta < -1e-12
            if abs(delta) > 1e-12:
                deltas.append(delta)
                changed_by_style[seed % 2] += 1
    print(f"random purchases: {n}, invariant violations: {violations}, "
          f"WebShop's uncapped option count above |goal options| (capped): {capped} "
          f"({capped / n:.2%})")  # fmt: skip
    if baseline_rev and baseline is None:
        print(f"  baseline {baseline_rev!r} not readable with git: no before/after comparison")
    elif baseline is not None:
        mean = sum(deltas) / len(deltas) if deltas else 0.0
        print(f"  vs reward at {baseline_rev}: changed {changed_up + changed_down} "
              f"({(changed_up + changed_down) / n:.2%}): higher {changed_up}, lower "
              f"{changed_down}; mean change where changed {mean:+.4f}; goals with all option "
              f"groups {changed_by_style[0] / ((n + 1) // 2):.2%} changed, with some left out "
              f"{changed_by_style[1] / max(1, n // 2):.2%}")  # fmt: skip
    return violations


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=20000)
    parser.add_argument(
        "--baseline-rev", default="a7d548f", help="git revision of the reward to compare to"
    )
    args = parser.parse_args(argv)
    bad = hand_checked()
    fuzzy_bad = fuzzy_vs_thefuzz()
    violations = random_purchases(args.purchases, args.baseline_rev or None)
    return int(bool(bad or fuzzy_bad or violations))


if __name__ == "__main__":
    sys.exit(main())
