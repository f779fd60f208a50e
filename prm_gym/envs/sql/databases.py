"""Generated SQLite databases for prm/SQL-v0, built deterministically from a seed.

Five schemas — ``retail``, ``university``, ``flights``, ``hospital``, ``library`` — each with
foreign keys, NULLs where real data has gaps (missing e-mails, unreturned loans, ungraded
enrollments) and hundreds to thousands of rows per table. A database is a pure function of
``(schema, seed, GENERATOR_VERSION)``: :func:`build_database` writes it once into a cache
directory (``$PRM_GYM_CACHE/sql``, else ``~/.cache/prm_gym/sql``) under a file name carrying all
three, building into a temporary file and renaming it into place so that concurrent envs never
see a half-written database. Same seed, same bytes.

Every entity table's label column (a person's name, a title) is unique within its table, so a
question about "each customer" is answered the same whether a query groups by id or by name.

Each schema also carries the annotations the question generator uses (:class:`SchemaSpec`): which
columns are labels, numbers, categories, dates or nullable, their English names, and the
foreign-key and many-to-many relations with their phrasing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GENERATOR_VERSION",
    "SCHEMAS",
    "Bridge",
    "Link",
    "SchemaSpec",
    "TableSpec",
    "build_database",
    "database_path",
    "default_cache_dir",
    "describe_database",
    "schema_spec",
]

#: Bumped whenever generated contents change; part of every cache file name.
GENERATOR_VERSION = 1

Rows = list[tuple[Any, ...]]
_REFERENCES = re.compile(r"^\s*(\w+)\b[^\n]*\bREFERENCES\b", re.M)


@dataclass(frozen=True)
class TableSpec:
    """What the question generator knows about one table.

    Attributes:
        name: Table name.
        singular: English noun for one row ("customer").
        plural: English noun for many rows ("customers").
        pk: Primary-key column.
        label: The unique display column (a name or title), or ``None`` for tables of events.
        label_nl: English name of the label column.
        numbers: Numeric column -> English name (non-NULL columns only).
        categories: Low-cardinality text column -> English name.
        dates: ISO-date column -> English name.
        nullable: Column with NULLs -> English name of what is missing.
    """

    name: str
    singular: str
    plural: str
    pk: str
    label: str | None = None
    label_nl: str = "name"
    numbers: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    nullable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A one-to-many foreign key ``child.fk -> parent.pk``, with its English nouns.

    ``child_singular``/``child_plural`` name child rows as seen from the parent ("departing
    flights"); ``parent_role`` names the parent as seen from a child ("origin airport"; default:
    the parent's singular noun).
    """

    child: str
    fk: str
    parent: str
    child_singular: str
    child_plural: str
    parent_role: str | None = None


@dataclass(frozen=True)
class Bridge:
    """A many-to-many relation between two entity tables ``a`` and ``b``.

    ``joins`` is the FROM clause joining them with aliases ``a`` and ``b``; ``verb`` reads
    "<a plural> who <verb> a <b singular>".
    """

    a: str
    b: str
    joins: str
    verb: str


@dataclass(frozen=True)
class SchemaSpec:
    """A generated schema: DDL, row builder and annotations."""

    name: str
    ddl: tuple[str, ...]
    build: Callable[[np.random.Generator], dict[str, Rows]]
    tables: dict[str, TableSpec]
    links: tuple[Link, ...]
    bridges: tuple[Bridge, ...]

    def table(self, name: str) -> TableSpec:
        return self.tables[name]


# -- shared vocabularies -------------------------------------------------------------------
_FIRST = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Dara",
    "David", "Elena", "Eli", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan",
    "Jamal", "Jin", "Julia", "Kai", "Kofi", "Lara", "Leo", "Lina", "Luca", "Maya", "Mei", "Nadia",
    "Noah", "Omar", "Priya", "Rosa", "Sam", "Sara", "Tariq", "Tom", "Uma", "Victor", "Wen", "Yara",
    "Yusuf", "Zoe", "Nina", "Oscar",
)  # fmt: skip
_LAST = (
    "Adams", "Baker", "Castro", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kim", "Lopez", "Moreau", "Nakamura", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Silva",
    "Singh", "Tanaka", "Umar", "Varga", "Wang", "Weber", "Xu", "Yilmaz", "Zhang", "Berg",
    "Cohen", "Dubois", "Eriksen", "Ferrari", "Gomez", "Hansen", "Ivanova", "Johnson", "Kowalski",
    "Larsen", "Mendes", "Nilsson", "Olsen", "Petrov", "Reyes", "Schmidt", "Torres", "Meyer",
    "Walsh", "Young",
)  # fmt: skip
_CITIES = (
    "Amsterdam", "Berlin", "Boston", "Chicago", "Dublin", "Lisbon", "London", "Madrid", "Milan",
    "Oslo", "Paris", "Prague", "Seoul", "Sydney", "Tokyo", "Toronto", "Vienna", "Warsaw",
)  # fmt: skip
_COUNTRY = {
    "Amsterdam": "Netherlands", "Berlin": "Germany", "Boston": "USA", "Chicago": "USA",
    "Dublin": "Ireland", "Lisbon": "Portugal", "London": "UK", "Madrid": "Spain",
    "Milan": "Italy", "Oslo": "Norway", "Paris": "France", "Prague": "Czechia", "Seoul": "Korea",
    "Sydney": "Australia", "Tokyo": "Japan", "Toronto": "Canada", "Vienna": "Austria",
    "Warsaw": "Poland",
}  # fmt: skip
_ADJ = (
    "Silent", "Golden", "Hidden", "Broken", "Distant", "Crimson", "Quiet", "Endless", "Lost",
    "Burning", "Frozen", "Secret", "Wild", "Gentle", "Hollow", "Bright", "Dark", "Last", "First",
    "Iron", "Paper", "Glass", "Velvet", "Silver", "Ancient", "Lonely", "Restless", "Wandering",
    "Northern", "Electric",
)  # fmt: skip
_NOUN = (
    "River", "Garden", "Empire", "Shadow", "Harbor", "Mountain", "Letter", "Orchard", "Signal",
    "Island", "Forest", "Engine", "Kingdom", "Lantern", "Mirror", "Ocean", "Compass", "Station",
    "Voyage", "Winter", "Summer", "Theory", "Promise", "Machine", "Archive", "Frontier", "Tide",
    "Bridge", "Horizon", "Storm",
)  # fmt: skip


def _date(base: dt.date, days: int | np.integer[Any]) -> str:
    return (base + dt.timedelta(days=int(days))).isoformat()


def _people(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct full names."""
    combos = len(_FIRST) * len(_LAST)
    picks = rng.choice(combos, size=n, replace=False)
    return [f"{_FIRST[int(k) // len(_LAST)]} {_LAST[int(k) % len(_LAST)]}" for k in picks]


def _titles(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct titles "The <Adj> <Noun>"."""
    combos = len(_ADJ) * len(_NOUN)
    picks = rng.choice(combos, size=n, replace=False)
    return [f"The {_ADJ[int(k) // len(_NOUN)]} {_NOUN[int(k) % len(_NOUN)]}" for k in picks]


def _pick(rng: np.random.Generator, options: tuple[str, ...], p: list[float] | None = None) -> str:
    return str(options[int(rng.choice(len(options), p=p))])


def _money(x: float) -> float:
    return round(float(x), 2)


# -- retail --------------------------------------------------------------------------------
_RETAIL_DDL = (
    """CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    loyalty_tier TEXT NOT NULL,
    signup_date TEXT NOT NULL
)""",
    """CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    brand TEXT NOT NULL,
    price REAL NOT NULL,
    stock INTEGER NOT NULL
)""",
    """CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    order_date TEXT NOT NULL,
    status TEXT NOT NULL,
    shipping_cost REAL NOT NULL,
    shipped_date TEXT
)""",
    """CREATE TABLE order_items (
    order_item_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL
)""",
)
_CATEGORIES = ("Books", "Electronics", "Garden", "Kitchen", "Sports", "Toys", "Clothing")
_BRANDS = ("Acme", "Borealis", "Cobalt", "Dynamo", "Evergreen", "Fable", "Granite", "Helix")
_PRODUCT_NOUNS = {
    "Books": ("Novel", "Cookbook", "Atlas", "Guide"),
    "Electronics": ("Headphones", "Charger", "Speaker", "Monitor"),
    "Garden": ("Hose", "Planter", "Shovel", "Sprinkler"),
    "Kitchen": ("Kettle", "Blender", "Pan", "Knife Set"),
    "Sports": ("Racket", "Yoga Mat", "Helmet", "Dumbbell"),
    "Toys": ("Puzzle", "Robot", "Kite", "Board Game"),
    "Clothing": ("Jacket", "Scarf", "Sneakers", "Hoodie"),
}


def _build_retail(rng: np.random.Generator) -> dict[str, Rows]:
    base = dt.date(2021, 1, 1)
    names = _people(rng, 500)
    customers: Rows = []
    for i, name in enumerate(names, 1):
        city = _pick(rng, _CITIES)
        email = None if rng.random() < 0.12 else name.lower().replace(" ", ".") + "@example.com"
        tier = _pick(rng, ("bronze", "silver", "gold", "platinum"), [0.5, 0.28, 0.16, 0.06])
        customers.append(
            (i, name, email, city, _COUNTRY[city], tier, _date(base, rng.integers(0, 900)))
        )
    products: Rows = []
    seen: set[str] = set()
    while len(products) < 220:
        category = _pick(rng, _CATEGORIES)
        brand = _pick(rng, _BRANDS)
        noun = _pick(rng, _PRODUCT_NOUNS[category])
        name = f"{brand} {noun} {int(rng.integers(100, 1000))}"
        if name in seen:
            continue
        seen.add(name)
        price = _money(rng.lognormal(3.4, 0.8))
        products.append(
            (len(products) + 1, name, category, brand, price, int(rng.integers(0, 400)))
        )
    orders: Rows = []
    items: Rows = []
    # A fifth of the customers never order, so "customers without orders" has answers.
    buyers = rng.choice(np.arange(1, 501), size=400, replace=False)
    for oid in range(1, 1801):
        cust = int(rng.choice(buyers))
        day = int(rng.integers(60, 1400))
        status = _pick(
            rng, ("delivered", "shipped", "pending", "cancelled", "returned"),
            [0.55, 0.15, 0.12, 0.1, 0.08],
        )  # fmt: skip
        shipped = (
            None if status in ("pending", "cancelled") else _date(base, day + rng.integers(1, 6))
        )
        orders.append(
            (
                oid,
                cust,
                _date(base, day),
                status,
                _money(rng.choice([0, 4.99, 9.99, 14.99])),
                shipped,
            )
        )
        for pid in rng.choice(len(products), size=int(rng.integers(1, 5)), replace=False):
            product = products[int(pid)]
            unit = _money(product[4] * rng.choice([1.0, 1.0, 0.9, 0.8]))
            items.append((len(items) + 1, oid, product[0], int(rng.integers(1, 6)), unit))
    return {"customers": customers, "products": products, "orders": orders, "order_items": items}


_RETAIL = SchemaSpec(
    name="retail",
    ddl=_RETAIL_DDL,
    build=_build_retail,
    tables={
        "customers": TableSpec(
            "customers",
            "customer",
            "customers",
            "customer_id",
            "name",
            categories={"city": "city", "country": "country", "loyalty_tier": "loyalty tier"},
            dates={"signup_date": "signup date"},
            nullable={"email": "e-mail address"},
        ),
        "products": TableSpec(
            "products",
            "product",
            "products",
            "product_id",
            "name",
            numbers={"price": "price", "stock": "stock level"},
            categories={"category": "category", "brand": "brand"},
        ),
        "orders": TableSpec(
            "orders",
            "order",
            "orders",
            "order_id",
            numbers={"shipping_cost": "shipping cost"},
            categories={"status": "status"},
            dates={"order_date": "order date"},
            nullable={"shipped_date": "shipping date"},
        ),
        "order_items": TableSpec(
            "order_items",
            "order line",
            "order lines",
            "order_item_id",
            numbers={"quantity": "quantity", "unit_price": "unit price"},
        ),
    },
    links=(
        Link("orders", "customer_id", "customers", "order", "orders"),
        Link("order_items", "product_id", "products", "order line", "order lines"),
    ),
    bridges=(
        Bridge(
            "customers",
            "products",
            "customers AS a JOIN orders AS o ON o.customer_id = a.customer_id "
            "JOIN order_items AS oi ON oi.order_id = o.order_id "
            "JOIN products AS b ON b.product_id = oi.product_id",
            "ordered",
        ),
    ),
)


# -- university ----------------------------------------------------------------------------
_UNIVERSITY_DDL = (
    """CREATE TABLE departments (
    dept_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    building TEXT NOT NULL,
    budget REAL NOT NULL
)""",
    """CREATE TABLE instructors (
    instructor_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dept_id INTEGER NOT NULL REFERENCES departments(dept_id),
    title TEXT NOT NULL,
    salary REAL NOT NULL,
    hire_year INTEGER NOT NULL
)""",
    """CREATE TABLE students (
    student_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dept_id INTEGER NOT NULL REFERENCES departments(dept_id),
    enrollment_year INTEGER NOT NULL,
    home_city TEXT NOT NULL,
    gpa REAL
)""",
    """CREATE TABLE courses (
    course_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    dept_id INTEGER NOT NULL REFERENCES departments(dept_id),
    instructor_id INTEGER NOT NULL REFERENCES instructors(instructor_id),
    credits INTEGER NOT NULL,
    course_level TEXT NOT NULL
)""",
    """CREATE TABLE enrollments (
    enrollment_id INTEGER PRIMARY KEY,
    student_id INTEGER NOT NULL REFERENCES students(student_id),
    course_id INTEGER NOT NULL REFERENCES courses(course_id),
    semester TEXT NOT NULL,
    grade REAL
)""",
)
_FIELDS = (
    "Mathematics", "Physics", "Chemistry", "Biology", "History", "Economics", "Philosophy",
    "Computer Science", "Linguistics", "Psychology",
)  # fmt: skip
_COURSE_FORMS = (
    "Introduction to", "Topics in", "Advanced", "Seminar in", "Foundations of", "Methods in",
    "History of", "Applied", "Research in", "Frontiers of", "Workshop in", "Readings in",
    "Principles of", "Laboratory in", "Studies in",
)  # fmt: skip


def _build_university(rng: np.random.Generator) -> dict[str, Rows]:
    departments: Rows = [
        (i, f"Department of {f}", f"{_pick(rng, ('North', 'South', 'East', 'West'))} Hall",
         _money(rng.integers(400, 2500) * 1000))
        for i, f in enumerate(_FIELDS, 1)
    ]  # fmt: skip
    instructors: Rows = []
    for i, name in enumerate(_people(rng, 90), 1):
        title = _pick(rng, ("Professor", "Associate Professor", "Assistant Professor", "Lecturer"))
        instructors.append(
            (i, name, int(rng.integers(1, 11)), title, _money(rng.normal(85000, 18000)),
             int(rng.integers(1990, 2024)))
        )  # fmt: skip
    students: Rows = []
    for i, name in enumerate(_people(rng, 900), 1):
        gpa = None if rng.random() < 0.08 else round(float(np.clip(rng.normal(3.0, 0.5), 1, 4)), 2)
        students.append(
            (i, name, int(rng.integers(1, 11)), int(rng.integers(2018, 2025)),
             _pick(rng, _CITIES), gpa)
        )  # fmt: skip
    courses: Rows = []
    for i in range(1, 151):
        dept = (i - 1) % 10 + 1
        form = _COURSE_FORMS[(i - 1) // 10]
        same_dept = [row[0] for row in instructors if row[2] == dept] or [1]
        courses.append(
            (i, f"{form} {_FIELDS[dept - 1]}", dept, int(rng.choice(same_dept)),
             int(rng.choice([2, 3, 4, 5, 6])),
             _pick(rng, ("introductory", "intermediate", "advanced")))
        )  # fmt: skip
    enrollments: Rows = []
    semesters = ("Fall 2022", "Spring 2023", "Fall 2023", "Spring 2024", "Fall 2024")
    for sid in range(1, 901):
        if rng.random() < 0.05:
            continue  # some students have not enrolled in anything yet
        for cid in rng.choice(np.arange(1, 151), size=int(rng.integers(2, 8)), replace=False):
            semester = _pick(rng, semesters)
            graded = semester != "Fall 2024" and rng.random() > 0.05
            grade = round(float(np.clip(rng.normal(3.0, 0.7), 0, 4)), 1) if graded else None
            enrollments.append((len(enrollments) + 1, sid, int(cid), semester, grade))
    return {
        "departments": departments,
        "instructors": instructors,
        "students": students,
        "courses": courses,
        "enrollments": enrollments,
    }


_UNIVERSITY = SchemaSpec(
    name="university",
    ddl=_UNIVERSITY_DDL,
    build=_build_university,
    tables={
        "departments": TableSpec(
            "departments",
            "department",
            "departments",
            "dept_id",
            "name",
            numbers={"budget": "budget"},
            categories={"building": "building"},
        ),
        "instructors": TableSpec(
            "instructors",
            "instructor",
            "instructors",
            "instructor_id",
            "name",
            numbers={"salary": "salary", "hire_year": "hiring year"},
            categories={"title": "academic title"},
        ),
        "students": TableSpec(
            "students",
            "student",
            "students",
            "student_id",
            "name",
            numbers={"enrollment_year": "enrollment year"},
            categories={"home_city": "home city"},
            nullable={"gpa": "GPA"},
        ),
        "courses": TableSpec(
            "courses",
            "course",
            "courses",
            "course_id",
            "title",
            label_nl="title",
            numbers={"credits": "number of credits"},
            categories={"course_level": "course level"},
        ),
        "enrollments": TableSpec(
            "enrollments",
            "enrollment",
            "enrollments",
            "enrollment_id",
            categories={"semester": "semester"},
            nullable={"grade": "grade"},
        ),
    },
    links=(
        Link("students", "dept_id", "departments", "student", "students"),
        Link("instructors", "dept_id", "departments", "instructor", "instructors"),
        Link("courses", "instructor_id", "instructors", "course", "courses"),
        Link("enrollments", "student_id", "students", "enrollment", "enrollments"),
        Link("enrollments", "course_id", "courses", "enrollment", "enrollments"),
    ),
    bridges=(
        Bridge(
            "students",
            "courses",
            "students AS a JOIN enrollments AS e ON e.student_id = a.student_id "
            "JOIN courses AS b ON b.course_id = e.course_id",
            "enrolled in",
        ),
    ),
)


# -- flights -------------------------------------------------------------------------------
_FLIGHTS_DDL = (
    """CREATE TABLE airports (
    airport_code TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    elevation_m INTEGER NOT NULL
)""",
    """CREATE TABLE airlines (
    airline_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    alliance TEXT,
    founded_year INTEGER NOT NULL
)""",
    """CREATE TABLE flights (
    flight_id INTEGER PRIMARY KEY,
    flight_number TEXT NOT NULL UNIQUE,
    airline_id INTEGER NOT NULL REFERENCES airlines(airline_id),
    origin TEXT NOT NULL REFERENCES airports(airport_code),
    destination TEXT NOT NULL REFERENCES airports(airport_code),
    departure_date TEXT NOT NULL,
    distance_km INTEGER NOT NULL,
    base_price REAL NOT NULL,
    delay_min INTEGER
)""",
    """CREATE TABLE passengers (
    passenger_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    nationality TEXT NOT NULL,
    birth_year INTEGER NOT NULL,
    frequent_flyer_tier TEXT
)""",
    """CREATE TABLE bookings (
    booking_id INTEGER PRIMARY KEY,
    flight_id INTEGER NOT NULL REFERENCES flights(flight_id),
    passenger_id INTEGER NOT NULL REFERENCES passengers(passenger_id),
    seat_class TEXT NOT NULL,
    fare REAL NOT NULL,
    booking_date TEXT NOT NULL
)""",
)
_AIRLINE_WORDS = (
    "Aurora", "Blue Sky", "Coastal", "Falcon", "Horizon", "Meridian", "Nimbus", "Pacific Crest",
    "Polar", "Sunline", "Transglobe", "Zephyr", "Atlas", "Kestrel", "Solstice",
)  # fmt: skip


def _build_flights(rng: np.random.Generator) -> dict[str, Rows]:
    base = dt.date(2023, 1, 1)
    airports: Rows = []
    for city in _CITIES:
        for k, suffix in enumerate(("International", "City")):
            if k == 1 and rng.random() < 0.5:
                continue
            # International airports take the city's first three letters; city airports the
            # first free "<initial><letter>C" code.
            taken = {a[0] for a in airports}
            options = [city[:3].upper()] if k == 0 else []
            options += [(city[0] + ch + "C").upper() for ch in city[1:]]
            code = next(c for c in options if c not in taken)
            airports.append(
                (code, f"{city} {suffix} Airport", city, _COUNTRY[city], int(rng.integers(0, 900)))
            )
    airlines: Rows = []
    for i, word in enumerate(_AIRLINE_WORDS, 1):
        city = _pick(rng, _CITIES)
        alliance = None if rng.random() < 0.3 else _pick(rng, ("StarLink", "OneSky", "SkyUnion"))
        airlines.append(
            (i, f"{word} Airways", _COUNTRY[city], alliance, int(rng.integers(1930, 2015)))
        )
    flights: Rows = []
    codes = [a[0] for a in airports]
    for fid in range(1, 2001):
        airline = int(rng.integers(1, len(airlines) + 1))
        o, d = rng.choice(len(codes), size=2, replace=False)
        distance = int(rng.integers(300, 9000))
        day = int(rng.integers(0, 540))
        flown = day < 420
        delay = int(max(0, rng.normal(12, 25))) if flown and rng.random() > 0.1 else None
        flights.append(
            (fid, f"{_AIRLINE_WORDS[airline - 1][:2].upper()}{1000 + fid}", airline,
             codes[int(o)], codes[int(d)], _date(base, day), distance,
             _money(40 + distance * rng.uniform(0.05, 0.12)), delay)
        )  # fmt: skip
    passengers: Rows = []
    countries = sorted(set(_COUNTRY.values()))
    for i, name in enumerate(_people(rng, 1500), 1):
        tier = None if rng.random() < 0.6 else _pick(rng, ("silver", "gold", "platinum"))
        passengers.append(
            (i, name, _pick(rng, tuple(countries)), int(rng.integers(1940, 2010)), tier)
        )
    bookings: Rows = []
    for bid in range(1, 5501):
        flight = flights[int(rng.integers(0, len(flights)))]
        seat = _pick(
            rng, ("economy", "premium economy", "business", "first"), [0.7, 0.15, 0.12, 0.03]
        )
        mult = {"economy": 1.0, "premium economy": 1.6, "business": 3.2, "first": 5.5}[seat]
        booked = _date(dt.date.fromisoformat(flight[5]), -int(rng.integers(1, 120)))
        bookings.append(
            (bid, flight[0], int(rng.integers(1, 1501)), seat,
             _money(flight[7] * mult * rng.uniform(0.9, 1.2)), booked)
        )  # fmt: skip
    return {
        "airports": airports,
        "airlines": airlines,
        "flights": flights,
        "passengers": passengers,
        "bookings": bookings,
    }


_FLIGHTS = SchemaSpec(
    name="flights",
    ddl=_FLIGHTS_DDL,
    build=_build_flights,
    tables={
        "airports": TableSpec(
            "airports",
            "airport",
            "airports",
            "airport_code",
            "name",
            numbers={"elevation_m": "elevation in metres"},
            categories={"country": "country", "city": "city"},
        ),
        "airlines": TableSpec(
            "airlines",
            "airline",
            "airlines",
            "airline_id",
            "name",
            numbers={"founded_year": "founding year"},
            categories={"country": "country"},
            nullable={"alliance": "alliance"},
        ),
        "flights": TableSpec(
            "flights",
            "flight",
            "flights",
            "flight_id",
            "flight_number",
            label_nl="flight number",
            numbers={"distance_km": "distance in km", "base_price": "base price"},
            categories={"origin": "origin airport code"},
            dates={"departure_date": "departure date"},
            nullable={"delay_min": "delay"},
        ),
        "passengers": TableSpec(
            "passengers",
            "passenger",
            "passengers",
            "passenger_id",
            "name",
            numbers={"birth_year": "birth year"},
            categories={"nationality": "nationality"},
            nullable={"frequent_flyer_tier": "frequent-flyer tier"},
        ),
        "bookings": TableSpec(
            "bookings",
            "booking",
            "bookings",
            "booking_id",
            numbers={"fare": "fare"},
            categories={"seat_class": "seat class"},
            dates={"booking_date": "booking date"},
        ),
    },
    links=(
        Link("flights", "airline_id", "airlines", "flight", "flights"),
        Link(
            "flights",
            "origin",
            "airports",
            "departing flight",
            "departing flights",
            "origin airport",
        ),
        Link("bookings", "passenger_id", "passengers", "booking", "bookings"),
        Link("bookings", "flight_id", "flights", "booking", "bookings"),
    ),
    bridges=(
        Bridge(
            "passengers",
            "flights",
            "passengers AS a JOIN bookings AS bk ON bk.passenger_id = a.passenger_id "
            "JOIN flights AS b ON b.flight_id = bk.flight_id",
            "booked",
        ),
    ),
)


# -- hospital ------------------------------------------------------------------------------
_HOSPITAL_DDL = (
    """CREATE TABLE departments (
    dept_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    floor INTEGER NOT NULL
)""",
    """CREATE TABLE doctors (
    doctor_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    specialty TEXT NOT NULL,
    dept_id INTEGER NOT NULL REFERENCES departments(dept_id),
    years_experience INTEGER NOT NULL,
    consultation_fee REAL NOT NULL
)""",
    """CREATE TABLE patients (
    patient_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    birth_year INTEGER NOT NULL,
    sex TEXT NOT NULL,
    city TEXT NOT NULL,
    insurance_provider TEXT
)""",
    """CREATE TABLE appointments (
    appointment_id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(patient_id),
    doctor_id INTEGER NOT NULL REFERENCES doctors(doctor_id),
    appointment_date TEXT NOT NULL,
    status TEXT NOT NULL,
    fee REAL NOT NULL,
    diagnosis TEXT
)""",
    """CREATE TABLE prescriptions (
    prescription_id INTEGER PRIMARY KEY,
    appointment_id INTEGER NOT NULL REFERENCES appointments(appointment_id),
    medication TEXT NOT NULL,
    dosage_mg INTEGER NOT NULL,
    days INTEGER NOT NULL
)""",
)
_SPECIALTIES = {
    "Cardiology": "Cardiologist", "Neurology": "Neurologist", "Pediatrics": "Pediatrician",
    "Oncology": "Oncologist", "Orthopedics": "Orthopedic Surgeon", "Dermatology": "Dermatologist",
    "Emergency": "Emergency Physician", "Radiology": "Radiologist",
    "Psychiatry": "Psychiatrist", "General Medicine": "General Practitioner",
}  # fmt: skip
_DIAGNOSES = (
    "hypertension", "migraine", "fracture", "influenza", "asthma", "dermatitis", "anxiety",
    "diabetes", "bronchitis", "sprain",
)  # fmt: skip
_MEDICATIONS = (
    "Amoxicillin", "Ibuprofen", "Lisinopril", "Metformin", "Paracetamol", "Sertraline",
    "Salbutamol", "Atorvastatin", "Omeprazole", "Prednisone",
)  # fmt: skip


def _build_hospital(rng: np.random.Generator) -> dict[str, Rows]:
    base = dt.date(2022, 1, 1)
    departments: Rows = [
        (i, name, int(rng.integers(0, 8))) for i, name in enumerate(_SPECIALTIES, 1)
    ]
    doctors: Rows = []
    for i, name in enumerate(_people(rng, 90), 1):
        dept = int(rng.integers(1, len(departments) + 1))
        specialty = _SPECIALTIES[departments[dept - 1][1]]
        doctors.append(
            (i, name, specialty, dept, int(rng.integers(1, 36)),
             _money(rng.integers(8, 40) * 5))
        )  # fmt: skip
    patients: Rows = []
    for i, name in enumerate(_people(rng, 1200), 1):
        insurer = (
            None if rng.random() < 0.15 else _pick(rng, ("Allcare", "MediPlus", "Vita", "Unity"))
        )
        patients.append(
            (i, name, int(rng.integers(1935, 2022)), _pick(rng, ("F", "M")), _pick(rng, _CITIES),
             insurer)
        )  # fmt: skip
    appointments: Rows = []
    prescriptions: Rows = []
    for aid in range(1, 3601):
        doctor = doctors[int(rng.integers(0, len(doctors)))]
        status = _pick(
            rng, ("completed", "cancelled", "no-show", "scheduled"), [0.72, 0.1, 0.06, 0.12]
        )
        diagnosis = _pick(rng, _DIAGNOSES) if status == "completed" and rng.random() < 0.9 else None
        appointments.append(
            (aid, int(rng.integers(1, 1201)), doctor[0], _date(base, rng.integers(0, 1000)),
             status, _money(doctor[5] * rng.choice([1.0, 1.0, 1.5])), diagnosis)
        )  # fmt: skip
        if diagnosis is not None:
            for _ in range(int(rng.integers(0, 3))):
                prescriptions.append(
                    (len(prescriptions) + 1, aid, _pick(rng, _MEDICATIONS),
                     int(rng.choice([5, 10, 20, 50, 100, 250, 500])), int(rng.integers(3, 31)))
                )  # fmt: skip
    return {
        "departments": departments,
        "doctors": doctors,
        "patients": patients,
        "appointments": appointments,
        "prescriptions": prescriptions,
    }


_HOSPITAL = SchemaSpec(
    name="hospital",
    ddl=_HOSPITAL_DDL,
    build=_build_hospital,
    tables={
        "departments": TableSpec(
            "departments",
            "department",
            "departments",
            "dept_id",
            "name",
            numbers={"floor": "floor"},
        ),
        "doctors": TableSpec(
            "doctors",
            "doctor",
            "doctors",
            "doctor_id",
            "name",
            numbers={
                "years_experience": "years of experience",
                "consultation_fee": "consultation fee",
            },
            categories={"specialty": "specialty"},
        ),
        "patients": TableSpec(
            "patients",
            "patient",
            "patients",
            "patient_id",
            "name",
            numbers={"birth_year": "birth year"},
            categories={"city": "city", "sex": "sex"},
            nullable={"insurance_provider": "insurance provider"},
        ),
        "appointments": TableSpec(
            "appointments",
            "appointment",
            "appointments",
            "appointment_id",
            numbers={"fee": "fee"},
            categories={"status": "status"},
            dates={"appointment_date": "appointment date"},
            nullable={"diagnosis": "diagnosis"},
        ),
        "prescriptions": TableSpec(
            "prescriptions",
            "prescription",
            "prescriptions",
            "prescription_id",
            numbers={"dosage_mg": "dosage in mg", "days": "duration in days"},
            categories={"medication": "medication"},
        ),
    },
    links=(
        Link("doctors", "dept_id", "departments", "doctor", "doctors"),
        Link("appointments", "patient_id", "patients", "appointment", "appointments"),
        Link("appointments", "doctor_id", "doctors", "appointment", "appointments"),
    ),
    bridges=(
        Bridge(
            "patients",
            "doctors",
            "patients AS a JOIN appointments AS ap ON ap.patient_id = a.patient_id "
            "JOIN doctors AS b ON b.doctor_id = ap.doctor_id",
            "had an appointment with",
        ),
    ),
)


# -- library -------------------------------------------------------------------------------
_LIBRARY_DDL = (
    """CREATE TABLE authors (
    author_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    birth_year INTEGER NOT NULL
)""",
    """CREATE TABLE books (
    book_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    author_id INTEGER NOT NULL REFERENCES authors(author_id),
    genre TEXT NOT NULL,
    publish_year INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    copies INTEGER NOT NULL
)""",
    """CREATE TABLE members (
    member_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    membership_type TEXT NOT NULL,
    join_date TEXT NOT NULL,
    phone TEXT
)""",
    """CREATE TABLE loans (
    loan_id INTEGER PRIMARY KEY,
    book_id INTEGER NOT NULL REFERENCES books(book_id),
    member_id INTEGER NOT NULL REFERENCES members(member_id),
    loan_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    return_date TEXT,
    fine REAL
)""",
)
_GENRES = (
    "fantasy", "mystery", "romance", "science fiction", "history", "biography", "poetry",
    "thriller",
)  # fmt: skip


def _build_library(rng: np.random.Generator) -> dict[str, Rows]:
    base = dt.date(2020, 1, 1)
    countries = tuple(sorted(set(_COUNTRY.values())))
    authors: Rows = [
        (i, name, _pick(rng, countries), int(rng.integers(1900, 1995)))
        for i, name in enumerate(_people(rng, 160), 1)
    ]
    books: Rows = []
    for i, title in enumerate(_titles(rng, 850), 1):
        author = authors[int(rng.integers(0, len(authors)))]
        year = int(rng.integers(max(author[3] + 20, 1950), 2025))
        books.append(
            (i, title, author[0], _pick(rng, _GENRES), year, int(rng.integers(90, 900)),
             int(rng.integers(1, 8)))
        )  # fmt: skip
    members: Rows = []
    for i, name in enumerate(_people(rng, 650), 1):
        phone = None if rng.random() < 0.2 else f"555-{int(rng.integers(1000, 10000))}"
        members.append(
            (i, name, _pick(rng, _CITIES), _pick(rng, ("standard", "student", "premium", "senior")),
             _date(base, rng.integers(0, 1200)), phone)
        )  # fmt: skip
    loans: Rows = []
    for lid in range(1, 3801):
        day = int(rng.integers(30, 1600))
        returned = rng.random() > 0.12
        late = int(rng.integers(-10, 20))
        ret = _date(base, day + 21 + late) if returned else None
        fine = _money(late * 0.5) if returned and late > 0 else None
        loans.append(
            (lid, int(rng.integers(1, 851)), int(rng.integers(1, 651)), _date(base, day),
             _date(base, day + 21), ret, fine)
        )  # fmt: skip
    return {"authors": authors, "books": books, "members": members, "loans": loans}


_LIBRARY = SchemaSpec(
    name="library",
    ddl=_LIBRARY_DDL,
    build=_build_library,
    tables={
        "authors": TableSpec(
            "authors",
            "author",
            "authors",
            "author_id",
            "name",
            numbers={"birth_year": "birth year"},
            categories={"country": "country"},
        ),
        "books": TableSpec(
            "books",
            "book",
            "books",
            "book_id",
            "title",
            label_nl="title",
            numbers={
                "pages": "number of pages",
                "publish_year": "publication year",
                "copies": "number of copies",
            },
            categories={"genre": "genre"},
        ),
        "members": TableSpec(
            "members",
            "member",
            "members",
            "member_id",
            "name",
            categories={"city": "city", "membership_type": "membership type"},
            dates={"join_date": "join date"},
            nullable={"phone": "phone number"},
        ),
        "loans": TableSpec(
            "loans",
            "loan",
            "loans",
            "loan_id",
            dates={"loan_date": "loan date"},
            nullable={"return_date": "return date", "fine": "fine"},
        ),
    },
    links=(
        Link("books", "author_id", "authors", "book", "books"),
        Link("loans", "book_id", "books", "loan", "loans"),
        Link("loans", "member_id", "members", "loan", "loans"),
    ),
    bridges=(
        Bridge(
            "members",
            "books",
            "members AS a JOIN loans AS l ON l.member_id = a.member_id "
            "JOIN books AS b ON b.book_id = l.book_id",
            "borrowed",
        ),
    ),
)

_SPECS = {s.name: s for s in (_RETAIL, _UNIVERSITY, _FLIGHTS, _HOSPITAL, _LIBRARY)}
SCHEMAS: tuple[str, ...] = tuple(_SPECS)


def schema_spec(schema: str) -> SchemaSpec:
    """The :class:`SchemaSpec` of a generated schema."""
    try:
        return _SPECS[schema]
    except KeyError:
        raise ValueError(f"unknown schema {schema!r}; choose from {SCHEMAS}") from None


def default_cache_dir() -> Path:
    """``$PRM_GYM_CACHE/sql`` when the variable is set, else ``~/.cache/prm_gym/sql``."""
    root = os.environ.get("PRM_GYM_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "prm_gym") / "sql"


def database_path(schema: str, seed: int = 0, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`build_database` puts (or finds) ``schema`` built from ``seed``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"{schema}-seed{seed}-v{GENERATOR_VERSION}.sqlite"


def _foreign_keys(spec: SchemaSpec) -> list[tuple[str, str]]:
    """``(table, column)`` of every foreign-key column (each gets an index, as in production
    schemas, so joins and correlated lookups on them are not quadratic)."""
    keys = []
    for statement in spec.ddl:
        table = statement.split()[2]
        keys += [(table, m) for m in _REFERENCES.findall(statement)]
    return keys


def build_database(schema: str, seed: int = 0, cache_dir: str | Path | None = None) -> Path:
    """Build ``schema`` from ``seed`` into the cache (once) and return the file's path.

    The build writes a temporary file in the cache directory and renames it into place, so a
    concurrent reader sees either no file or the complete one; two concurrent builders both
    produce identical bytes and the last rename wins.
    """
    spec = schema_spec(schema)
    path = database_path(schema, seed, cache_dir)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([zlib.crc32(schema.encode()), seed, GENERATOR_VERSION])
    tables = spec.build(rng)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA foreign_keys = ON")
            for statement in spec.ddl:
                conn.execute(statement)
            for statement in spec.ddl:
                table = statement.split()[2]
                rows = tables[table]
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            for table, column in _foreign_keys(spec):
                conn.execute(f"CREATE INDEX idx_{table}_{column} ON {table} ({column})")
            conn.commit()
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(
                    f"generated {schema} database breaks foreign keys: {problems[:3]}"
                )
        finally:
            conn.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _quote_cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return value if len(value) <= 40 else value[:39] + "…"
    return str(value)


@lru_cache(maxsize=64)
def describe_database(path: str, sample_rows: int = 3) -> str:
    """The schema of the SQLite file at ``path`` as CREATE statements, each followed by a few
    sample rows (``col | col`` text). Cached: database files are immutable once built."""
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        tables = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        parts = []
        for name, sql in tables:
            parts.append(f"{sql};")
            if sample_rows > 0:
                cursor = conn.execute(f'SELECT * FROM "{name}" LIMIT {int(sample_rows)}')
                columns = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
                lines = [" | ".join(columns)] + [
                    " | ".join(_quote_cell(v) for v in r) for r in rows
                ]
                body = "\n".join(f"-- {line}" for line in lines)
                parts.append(f"-- {len(rows)} sample rows from {name}:\n{body}")
        return "\n\n".join(parts)
    finally:
        conn.close()
