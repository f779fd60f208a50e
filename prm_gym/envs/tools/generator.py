"""Procedural tool-use tasks: questions that need 1–4 chained tool calls.

A task family is a config plus a generator that is a pure function of ``(config, seed)``. The
level of a task is the number of calls its gold solution chains, each feeding the next (a
flight's price in euros → converted to dollars → times the number of travellers → plus the
hotel nights). ``distractors`` irrelevant sentences (default: ``level - 1``) are mixed into the
question. The generator runs the built-in tools to compute every intermediate value, so the gold
calls and the final answer are exactly what an agent calling the tools would see.

``Task.answer`` is ``{"calls": [{"name", "parameters"}, ...], "answer": final}`` (a number or a
string); ``Task.metadata`` holds ``level``, ``template``, ``results`` (each gold call's result)
and ``question``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from prm_gym.core.task import Task
from prm_gym.envs.tools import builtin as tools
from prm_gym.envs.tools.knowledge import FACTS

__all__ = ["LEVELS", "TEMPLATES", "ToolUseConfig", "format_value", "generate"]

LEVELS = (1, 2, 3, 4)
Call = dict[str, Any]
_Built = tuple[str, list[Call], Any]
_LENGTH_UNITS = {"m": ("ft", "length"), "km": ("mi", "length"), "kg": ("lb", "mass"),
                 "L": ("gal", "volume")}  # fmt: skip
_DISTRACTORS = (
    "My neighbour paid {n} GBP for a taxi last week.",
    "The hotel lobby has {n} chairs.",
    "I walked {n} km yesterday.",
    "Our team has {n} members.",
    "A colleague says the ferry costs {n} EUR, but that is unrelated.",
    "It was {n} degrees warmer last Tuesday.",
    "The museum shop sells postcards for {n} CHF.",
)


def format_value(value: Any) -> str:
    """A value as the tasks write it: integers without ``.0``, floats in full precision."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _call(name: str, **parameters: Any) -> Call:
    return {"name": name, "parameters": parameters}


def _run(call: Call) -> Any:
    fn: Callable[..., Any] = getattr(tools, call["name"])
    return fn(**call["parameters"])


def _date(rng: np.random.Generator) -> str:
    return (dt.date(2025, 1, 1) + dt.timedelta(days=int(rng.integers(0, 300)))).isoformat()


def _route(rng: np.random.Generator) -> tuple[str, str]:
    a, b = rng.choice(len(tools.CITIES), size=2, replace=False)
    return tools.CITIES[int(a)], tools.CITIES[int(b)]


def _target_currency(rng: np.random.Generator, origin: str) -> str:
    others = [c for c in tools.CURRENCY_RATES if c != tools.CITY_CURRENCY[origin]]
    return str(others[int(rng.integers(0, len(others)))])


def _convertible_fact(rng: np.random.Generator) -> dict[str, Any]:
    facts = [f for f in FACTS if f["unit"] in _LENGTH_UNITS]
    return facts[int(rng.integers(0, len(facts)))]


# -- templates: each returns (question, gold calls, final answer) -----------------------------
def _currency(rng: np.random.Generator) -> _Built:
    codes = list(tools.CURRENCY_RATES)
    a, b = rng.choice(len(codes), size=2, replace=False)
    amount = int(rng.integers(5, 2000))
    call = _call("convert_currency", amount=amount, from_currency=codes[a], to_currency=codes[b])
    return f"How much is {amount} {codes[a]} in {codes[b]}?", [call], _run(call)


def _units(rng: np.random.Generator) -> _Built:
    src = str(rng.choice(list(_LENGTH_UNITS)))
    value = int(rng.integers(2, 900))
    call = _call("convert_units", value=value, from_unit=src, to_unit=_LENGTH_UNITS[src][0])
    return f"Convert {value} {src} to {_LENGTH_UNITS[src][0]}.", [call], _run(call)


def _weather(rng: np.random.Generator) -> _Built:
    city, date = str(rng.choice(tools.CITIES)), _date(rng)
    call = _call("get_weather", city=city, date=date)
    question = f"What temperature (in °C) is forecast for {city} on {date}?"
    return question, [call], _run(call)["temp_c"]


def _date_shift(rng: np.random.Generator) -> _Built:
    date, days = _date(rng), int(rng.integers(3, 200))
    call = _call("add_days", date=date, days=days)
    return f"Which date is {days} days after {date}? Answer YYYY-MM-DD.", [call], _run(call)


def _knowledge(rng: np.random.Generator) -> _Built:
    fact = FACTS[int(rng.integers(0, len(FACTS)))]
    call = _call("search_knowledge", query=str(fact["subject"]))
    question = (
        f"According to the knowledge base, what is the {fact['quantity']} of the "
        f"{fact['subject']} (in {fact['unit']})?"
    )
    return question, [call], fact["value"]


def _flight(rng: np.random.Generator) -> _Built:
    origin, destination = _route(rng)
    call = _call("find_flights", origin=origin, destination=destination)
    question = (
        f"What does the cheapest flight from {origin} to {destination} cost, in the currency "
        "it is priced in?"
    )
    return question, [call], _run(call)[0]["price"]


def _arithmetic(rng: np.random.Generator) -> _Built:
    a, b, c = (int(x) for x in rng.integers(2, 500, size=3))
    expression = f"{a} * {b} - {c}"
    call = _call("calculator", expression=expression)
    return f"Compute {expression}.", [call], _run(call)


def _flight_currency(rng: np.random.Generator) -> _Built:
    origin, destination = _route(rng)
    target = _target_currency(rng, origin)
    first = _call("find_flights", origin=origin, destination=destination)
    flight = _run(first)[0]
    second = _call("convert_currency", amount=flight["price"], from_currency=flight["currency"],
                   to_currency=target)  # fmt: skip
    question = f"How much is the cheapest flight from {origin} to {destination} in {target}?"
    return question, [first, second], _run(second)


def _knowledge_units(rng: np.random.Generator) -> _Built:
    fact = _convertible_fact(rng)
    target, dimension = _LENGTH_UNITS[str(fact["unit"])]
    first = _call("search_knowledge", query=str(fact["subject"]))
    second = _call("convert_units", value=fact["value"], from_unit=fact["unit"], to_unit=target)
    question = (
        f"Using the knowledge base, give the {fact['quantity']} of the {fact['subject']} "
        f"in {target}."
    )
    del dimension
    return question, [first, second], _run(second)


def _weather_fahrenheit(rng: np.random.Generator) -> _Built:
    city, date = str(rng.choice(tools.CITIES)), _date(rng)
    first = _call("get_weather", city=city, date=date)
    second = _call("convert_units", value=_run(first)["temp_c"], from_unit="C", to_unit="F")
    question = f"What temperature in °F is forecast for {city} on {date}?"
    return question, [first, second], _run(second)


def _date_weather(rng: np.random.Generator) -> _Built:
    city, date, days = str(rng.choice(tools.CITIES)), _date(rng), int(rng.integers(2, 60))
    first = _call("add_days", date=date, days=days)
    second = _call("get_weather", city=city, date=_run(first))
    question = f"What temperature (in °C) is forecast for {city} {days} days after {date}?"
    return question, [first, second], _run(second)["temp_c"]


def _group_trip(rng: np.random.Generator) -> _Built:
    question, calls, usd = _flight_currency(rng)
    people = int(rng.integers(2, 9))
    third = _call("calculator", expression=f"{format_value(usd)} * {people}")
    target = calls[1]["parameters"]["to_currency"]
    question = question.replace("How much is", f"What do {people} tickets on", 1).replace(
        f" in {target}?", f" cost in total, in {target}?"
    )
    return question, [*calls, third], _run(third)


def _knowledge_units_times(rng: np.random.Generator) -> _Built:
    _, calls, converted = _knowledge_units(rng)
    fact = next(f for f in FACTS if f["subject"] == calls[0]["parameters"]["query"])
    count = int(rng.integers(2, 12))
    third = _call("calculator", expression=f"{format_value(converted)} * {count}")
    target = calls[1]["parameters"]["to_unit"]
    question = (
        f"Using the knowledge base, what is {count} times the {fact['quantity']} of the "
        f"{fact['subject']}, in {target}?"
    )
    return question, [*calls, third], _run(third)


def _date_weather_fahrenheit(rng: np.random.Generator) -> _Built:
    _, calls, temp = _date_weather(rng)
    third = _call("convert_units", value=temp, from_unit="C", to_unit="F")
    days, date = calls[0]["parameters"]["days"], calls[0]["parameters"]["date"]
    city = calls[1]["parameters"]["city"]
    question = f"What temperature in °F is forecast for {city} {days} days after {date}?"
    return question, [*calls, third], _run(third)


def _trip_budget(rng: np.random.Generator) -> _Built:
    _, calls, usd = _flight_currency(rng)
    origin, destination = (calls[0]["parameters"][k] for k in ("origin", "destination"))
    target = calls[1]["parameters"]["to_currency"]
    people, rate = int(rng.integers(2, 6)), int(rng.integers(60, 300))
    check_in = _date(rng)
    check_out = tools.add_days(check_in, int(rng.integers(2, 10)))
    nights_call = _call("days_between", start=check_in, end=check_out)
    nights = _run(nights_call)
    total = _call("calculator",
                  expression=f"{format_value(usd)} * {people} + {nights} * {rate}")  # fmt: skip
    question = (
        f"{people} of us fly on the cheapest flight from {origin} to {destination} and share "
        f"one hotel room at {rate} {target} per night from {check_in} to {check_out}. What is "
        f"the total cost in {target} (all tickets plus the room)?"
    )
    return question, [calls[0], calls[1], nights_call, total], _run(total)


def _weather_warmer(rng: np.random.Generator) -> _Built:
    _, calls, fahrenheit = _date_weather_fahrenheit(rng)
    threshold = int(rng.integers(20, 60))
    fourth = _call("calculator", expression=f"{format_value(fahrenheit)} - {threshold}")
    days, date = calls[0]["parameters"]["days"], calls[0]["parameters"]["date"]
    city = calls[1]["parameters"]["city"]
    question = (
        f"How many °F above {threshold} °F is the temperature forecast for {city} {days} days "
        f"after {date}? (Negative if below.)"
    )
    return question, [*calls, fourth], _run(fourth)


#: Template name -> (level, builder).
TEMPLATES: dict[str, tuple[int, Callable[[np.random.Generator], _Built]]] = {
    "currency": (1, _currency),
    "units": (1, _units),
    "weather": (1, _weather),
    "date_shift": (1, _date_shift),
    "knowledge": (1, _knowledge),
    "flight": (1, _flight),
    "arithmetic": (1, _arithmetic),
    "flight_currency": (2, _flight_currency),
    "knowledge_units": (2, _knowledge_units),
    "weather_fahrenheit": (2, _weather_fahrenheit),
    "date_weather": (2, _date_weather),
    "group_trip": (3, _group_trip),
    "knowledge_units_times": (3, _knowledge_units_times),
    "date_weather_fahrenheit": (3, _date_weather_fahrenheit),
    "trip_budget": (4, _trip_budget),
    "weather_warmer": (4, _weather_warmer),
}


@dataclass(frozen=True)
class ToolUseConfig:
    """Which tasks ``generate`` draws.

    Attributes:
        levels: Difficulty levels (number of chained calls), chosen uniformly.
        templates: Task templates to draw from (default: all of the chosen levels).
        distractors: Irrelevant sentences in each question (``None``: ``level - 1``).
    """

    levels: tuple[int, ...] = LEVELS
    templates: tuple[str, ...] | None = None
    distractors: int | None = None

    def __post_init__(self) -> None:
        if not self.levels or any(lvl not in LEVELS for lvl in self.levels):
            raise ValueError(f"levels must be a non-empty subset of {LEVELS}")
        unknown = [t for t in self.templates or () if t not in TEMPLATES]
        if unknown:
            raise ValueError(f"unknown templates {unknown}; choose from {sorted(TEMPLATES)}")
        if not self._choices():
            raise ValueError("no template matches the chosen levels")

    def _choices(self) -> list[str]:
        names = self.templates or tuple(TEMPLATES)
        return [n for n in names if TEMPLATES[n][0] in self.levels]


def generate(config: ToolUseConfig, seed: int) -> Task:
    """Task ``seed`` of the family ``config`` (a pure function of both)."""
    rng = np.random.default_rng([seed, 8])
    names = config._choices()
    name = names[int(rng.integers(0, len(names)))]
    level, build = TEMPLATES[name]
    question, calls, answer = build(rng)
    count = level - 1 if config.distractors is None else config.distractors
    for i in rng.choice(len(_DISTRACTORS), size=min(count, len(_DISTRACTORS)), replace=False):
        sentence = _DISTRACTORS[int(i)].format(n=int(rng.integers(2, 90)))
        question = f"{sentence} {question}" if rng.random() < 0.5 else f"{question} {sentence}"
    results = [_run(c) for c in calls]
    return Task(
        id=f"tools-{name}-L{level}-{seed}",
        prompt=question,
        answer={"calls": calls, "answer": answer},
        metadata={"level": level, "template": name, "results": results, "question": question},
    )
