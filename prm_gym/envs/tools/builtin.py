"""The built-in deterministic tools of ``prm/ToolUse-v0`` and their fixed tables.

Every tool is a pure function of its arguments (the calendar tools also of the episode's
:class:`~prm_gym.envs.tools.registry.ToolContext`), so the same call always returns the same
result. :func:`default_registry` bundles them.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import re
import zlib
from collections.abc import Callable
from typing import Any, Literal

from prm_gym.envs.tools.knowledge import FACTS
from prm_gym.envs.tools.registry import ToolContext, ToolRegistry

__all__ = [
    "CITIES",
    "CITY_CURRENCY",
    "CURRENCY_RATES",
    "add_days",
    "calculator",
    "convert_currency",
    "convert_units",
    "create_event",
    "days_between",
    "default_registry",
    "delete_event",
    "find_flights",
    "get_weather",
    "list_events",
    "search_knowledge",
]

Currency = Literal["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD"]
Unit = Literal["m", "km", "mi", "ft", "kg", "lb", "g", "L", "gal", "C", "F", "K"]
City = Literal["Lisbon", "Berlin", "London", "Zurich", "Tokyo", "Toronto", "Sydney", "Boston"]

#: US dollars per unit of each currency (a fixed table, not market data).
CURRENCY_RATES: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0067,
    "CHF": 1.12,
    "CAD": 0.74,
    "AUD": 0.66,
}
CITIES: tuple[str, ...] = (
    "Lisbon", "Berlin", "London", "Zurich", "Tokyo", "Toronto", "Sydney", "Boston",
)  # fmt: skip
CITY_CURRENCY: dict[str, str] = {
    "Lisbon": "EUR", "Berlin": "EUR", "London": "GBP", "Zurich": "CHF",
    "Tokyo": "JPY", "Toronto": "CAD", "Sydney": "AUD", "Boston": "USD",
}  # fmt: skip
_CONDITIONS = ("sunny", "cloudy", "rainy", "windy", "foggy", "snowy")
# Base unit and factor to it for each linear unit; temperatures are handled apart.
_UNITS: dict[str, tuple[str, float]] = {
    "m": ("m", 1.0),
    "km": ("m", 1000.0),
    "mi": ("m", 1609.344),
    "ft": ("m", 0.3048),
    "kg": ("kg", 1.0),
    "lb": ("kg", 0.45359237),
    "g": ("kg", 0.001),
    "L": ("L", 1.0),
    "gal": ("L", 3.785411784),
}


def _round(x: float, places: int = 4) -> float:
    value = round(float(x), places)
    return 0.0 if value == 0 else value


def _hash(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"dates must be written YYYY-MM-DD, got {text!r}") from None


# -- calculator -------------------------------------------------------------------------------
#: Largest integer, in bits, the calculator computes (floats reach about 2**1024 too).
CALCULATOR_MAX_BITS = 1024
_MAX_NDIGITS = 30
_MAX_EXPONENT = 64
_MAX_POWER_BASE = 1e6
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _round_call(x: float, ndigits: int | None = None) -> float:
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int) or abs(ndigits) > _MAX_NDIGITS:
        raise ValueError(f"round's ndigits must be an integer between {-_MAX_NDIGITS} and "
                         f"{_MAX_NDIGITS}")  # fmt: skip
    return round(x, ndigits)


def _extremum(fn: Callable[..., float]) -> Callable[..., float]:
    def call(*args: float) -> float:
        if not args:
            raise ValueError(f"{fn.__name__}() needs at least one number")
        return fn(args)

    return call


_FUNCTIONS: dict[str, tuple[Callable[..., float], int, int]] = {
    # name: (function, fewest arguments, most arguments)
    "round": (_round_call, 1, 2),
    "abs": (abs, 1, 1),
    "min": (_extremum(min), 1, 32),
    "max": (_extremum(max), 1, 32),
    "sqrt": (math.sqrt, 1, 1),
}


def _checked(value: Any) -> float:
    """``value`` if it is a finite real number of bounded size, else a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("the result is not a real number")
    if isinstance(value, int):
        if value.bit_length() > CALCULATOR_MAX_BITS:
            raise ValueError(f"a number larger than 2**{CALCULATOR_MAX_BITS}")
    elif not math.isfinite(value):
        raise ValueError("the result is not finite (overflow)")
    return value


def _power(base: float, exponent: float) -> float:
    # Checked before computing: an exact integer power cannot be interrupted.
    if abs(exponent) > _MAX_EXPONENT or abs(base) > _MAX_POWER_BASE:
        raise ValueError(
            f"exponent or base too large (at most {_MAX_EXPONENT} and {_MAX_POWER_BASE:g})"
        )
    return pow(base, exponent)


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        function, fewest, most = _FUNCTIONS[node.func.id]
        if not fewest <= len(node.args) <= most:
            count = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise ValueError(f"{node.func.id}() takes {count} argument(s)")
        return _checked(function(*(_evaluate(a) for a in node.args)))
    if isinstance(node, ast.Call):
        raise ValueError(f"unknown function; the calculator has {', '.join(_FUNCTIONS)}")
    raise ValueError(f"unsupported expression element: {type(node).__name__}")


def calculator(expression: str) -> float:
    """Evaluate an arithmetic expression.

    Supports numbers, + - * / // % **, parentheses and round, abs, min, max, sqrt. Every
    intermediate result must be a finite real number below 2**1024; a power's exponent is at
    most 64 and its base at most 1e6 in size; round's ndigits lies between -30 and 30.

    Args:
        expression: The expression, e.g. "(12.5 + 3) * 4".
    """
    if len(expression) > 200:
        raise ValueError("expression longer than 200 characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError(f"not an arithmetic expression: {expression!r}") from None
    try:
        value = _evaluate(tree)
        return _round(value)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("the result is too large (overflow)") from None
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    except TypeError as exc:
        raise ValueError(f"invalid arithmetic: {exc}") from None
    except ValueError as exc:
        if "math domain error" in str(exc):
            raise ValueError("sqrt of a negative number") from None
        raise


# -- conversions and dates --------------------------------------------------------------------
def convert_units(value: float, from_unit: Unit, to_unit: Unit) -> float:
    """Convert a quantity between units of length, mass, volume or temperature.

    Args:
        value: The quantity to convert.
        from_unit: Its unit (m, km, mi, ft, kg, lb, g, L, gal, or C, F, K for temperature).
        to_unit: The unit to convert to (same dimension).
    """
    temps = ("C", "F", "K")
    if from_unit in temps or to_unit in temps:
        if not (from_unit in temps and to_unit in temps):
            raise ValueError(f"cannot convert {from_unit} to {to_unit}")
        celsius = {"C": value, "F": (value - 32) * 5 / 9, "K": value - 273.15}[from_unit]
        out = {"C": celsius, "F": celsius * 9 / 5 + 32, "K": celsius + 273.15}[to_unit]
        return _round(out)
    base_from, factor_from = _UNITS[from_unit]
    base_to, factor_to = _UNITS[to_unit]
    if base_from != base_to:
        raise ValueError(f"cannot convert {from_unit} to {to_unit}: different dimensions")
    return _round(value * factor_from / factor_to)


def convert_currency(amount: float, from_currency: Currency, to_currency: Currency) -> float:
    """Convert money between currencies at the fixed exchange table (rounded to cents).

    Args:
        amount: The amount of money.
        from_currency: Its currency code.
        to_currency: The currency to convert to.
    """
    return _round(amount * CURRENCY_RATES[from_currency] / CURRENCY_RATES[to_currency], 2)


def add_days(date: str, days: int) -> str:
    """The date a number of days after (or, if negative, before) a date.

    Args:
        date: The start date, YYYY-MM-DD.
        days: Days to add (may be negative).
    """
    if abs(days) > 100000:
        raise ValueError("days must be within 100000")
    return (_date(date) + dt.timedelta(days=days)).isoformat()


def days_between(start: str, end: str) -> int:
    """The number of days from one date to another (negative when end is earlier).

    Args:
        start: The first date, YYYY-MM-DD.
        end: The second date, YYYY-MM-DD.
    """
    return (_date(end) - _date(start)).days


# -- lookup tables ----------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an and the of in is to how what which for at by on".split())


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def search_knowledge(query: str, top_k: int = 3) -> list[dict[str, str]]:
    """Search the knowledge base of facts about places and landmarks.

    Args:
        query: Keywords, e.g. a landmark's name.
        top_k: How many facts to return at most (1 to 10).
    """
    if not 1 <= top_k <= 10:
        raise ValueError("top_k must be between 1 and 10")
    terms = _terms(query)
    scored = []
    for fact in FACTS:
        subject = _terms(str(fact["subject"]))
        overlap = len(terms & (_terms(str(fact["text"])) | subject))
        if overlap:
            # Facts whose whole subject is named rank first; ties keep knowledge-base order.
            scored.append((-(overlap + 2 * (subject <= terms)), fact["id"], fact))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [{"id": str(f["id"]), "text": str(f["text"])} for _, _, f in scored[:top_k]]


def get_weather(city: City, date: str) -> dict[str, Any]:
    """The weather forecast table for a city on a date in 2025.

    Args:
        city: The city.
        date: The date, YYYY-MM-DD, within 2025.
    """
    day = _date(date)
    if day.year != 2025:
        raise ValueError("the forecast table only covers 2025")
    h = _hash("weather", city, day.isoformat())
    season = -math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)
    if city == "Sydney":
        season = -season
    temp = round(12 + 10 * season + (h % 11) - 5)
    return {
        "city": city,
        "date": day.isoformat(),
        "condition": _CONDITIONS[(h >> 8) % len(_CONDITIONS)],
        "temp_c": temp,
        "humidity": 40 + (h >> 16) % 50,
    }


def _flight_table() -> dict[tuple[str, str], list[dict[str, Any]]]:
    table: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for origin in CITIES:
        for destination in CITIES:
            if origin == destination:
                continue
            flights = []
            for k in range(2):
                h = _hash("flight", origin, destination, k)
                currency = CITY_CURRENCY[origin]
                usd = 150 + h % 650
                price = round(usd / CURRENCY_RATES[currency])
                if currency == "JPY":
                    price = round(price, -2)
                flights.append(
                    {
                        "flight": f"PG{100 + (h >> 10) % 900}",
                        "origin": origin,
                        "destination": destination,
                        "departs": f"{6 + (h >> 4) % 15:02d}:{15 * ((h >> 2) % 4):02d}",
                        "price": price,
                        "currency": currency,
                    }
                )
            flights.sort(key=lambda f: (f["price"], f["flight"]))
            table[origin, destination] = flights
    return table


_FLIGHTS = _flight_table()


def find_flights(origin: City, destination: City) -> list[dict[str, Any]]:
    """Flights from one city to another, cheapest first, priced in the origin's currency.

    Args:
        origin: The departure city.
        destination: The arrival city.
    """
    if origin == destination:
        raise ValueError("origin and destination must differ")
    return [dict(f) for f in _FLIGHTS[origin, destination]]


# -- episode-local calendar -------------------------------------------------------------------
def _events(context: ToolContext) -> dict[str, dict[str, str]]:
    events: dict[str, dict[str, str]] = context.store.setdefault("events", {})
    return events


def create_event(title: str, date: str, context: ToolContext) -> dict[str, str]:
    """Add an event to the calendar.

    Args:
        title: What the event is.
        date: Its date, YYYY-MM-DD.
    """
    if not title.strip():
        raise ValueError("the title must not be empty")
    day = _date(date).isoformat()
    counter = int(context.store.get("next_id", 1))
    context.store["next_id"] = counter + 1
    event = {"event_id": f"evt-{counter}", "title": title.strip(), "date": day}
    _events(context)[event["event_id"]] = event
    return dict(event)


def list_events(context: ToolContext, date: str | None = None) -> list[dict[str, str]]:
    """List the calendar's events, optionally only those on one date.

    Args:
        date: Only events on this date, YYYY-MM-DD (default: all events).
    """
    day = None if date is None else _date(date).isoformat()
    events = sorted(_events(context).values(), key=lambda e: (e["date"], e["event_id"]))
    return [dict(e) for e in events if day is None or e["date"] == day]


def delete_event(event_id: str, context: ToolContext) -> dict[str, str]:
    """Delete an event from the calendar.

    Args:
        event_id: The id create_event returned, e.g. "evt-1".
    """
    events = _events(context)
    if event_id not in events:
        raise ValueError(f"no event with id {event_id!r}")
    return {"deleted": events.pop(event_id)["event_id"]}


def default_registry() -> ToolRegistry:
    """A fresh registry of the eleven built-in tools."""
    return ToolRegistry(
        [
            calculator,
            convert_units,
            convert_currency,
            add_days,
            days_between,
            search_knowledge,
            get_weather,
            find_flights,
            create_event,
            list_events,
            delete_event,
        ]
    )
