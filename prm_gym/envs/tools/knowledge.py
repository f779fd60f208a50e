"""The knowledge base behind ``search_knowledge``: 50 short facts about a fictional world.

The facts are invented for this project (so no model can know them without the tool). Each has a
subject, the quantity it states, a value, a unit and the sentence the tool returns.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FACTS"]

# (subject, quantity, value, unit, sentence); the sentence states the value once.
_RAW: tuple[tuple[str, str, float, str, str], ...] = (
    ("Velmora Tower", "height", 312, "m", "The Velmora Tower in Kestrel City is 312 m tall."),
    ("Arvel Bridge", "length", 1240, "m", "The Arvel Bridge spans 1240 m across the Dun river."),
    ("Lake Orsen", "depth", 87, "m", "Lake Orsen reaches a depth of 87 m at its centre."),
    ("Mount Tavrin", "height", 4210, "m", "Mount Tavrin rises to 4210 m above sea level."),
    ("Dun river", "length", 612, "km", "The Dun river runs for 612 km before reaching the sea."),
    (
        "Kestrel City",
        "population",
        845000,
        "people",
        "Kestrel City has a population of 845000 people.",
    ),
    ("Port Halloway", "population", 129000, "people", "Port Halloway is home to 129000 people."),
    ("Great Silo of Brenn", "capacity", 5600, "L", "The Great Silo of Brenn holds 5600 L of oil."),
    ("Bell of Saint Odo", "mass", 3400, "kg", "The Bell of Saint Odo weighs 3400 kg."),
    ("Orsen Lighthouse", "height", 46, "m", "The Orsen Lighthouse stands 46 m high."),
    ("Marrow Canal", "length", 38, "km", "The Marrow Canal is 38 km long."),
    ("Copper Road", "length", 219, "km", "The Copper Road links two mines over 219 km."),
    ("Glasswing Dam", "height", 131, "m", "The Glasswing Dam wall is 131 m high."),
    (
        "Glasswing Reservoir",
        "capacity",
        72000,
        "L",
        "The test basin of the Glasswing Reservoir holds 72000 L.",
    ),
    ("Iron Colossus", "mass", 18500, "kg", "The Iron Colossus statue has a mass of 18500 kg."),
    ("Tessaly Forest", "area", 930, "km2", "Tessaly Forest covers 930 km2 of hills."),
    ("Mirefield Stadium", "capacity", 41000, "seats", "Mirefield Stadium seats 41000 fans."),
    ("Hollin Tunnel", "length", 9.6, "km", "The Hollin Tunnel runs 9.6 km under the pass."),
    ("Skyreach Wheel", "height", 118, "m", "The Skyreach Wheel is 118 m tall."),
    ("Old Mill of Fenwick", "age", 214, "years", "The Old Mill of Fenwick is 214 years old."),
    ("Ambergate Library", "books", 380000, "books", "Ambergate Library keeps 380000 books."),
    ("Ambergate Library founding", "year", 1832, "year", "Ambergate Library was founded in 1832."),
    ("Kestrel Marathon", "length", 42.2, "km", "The Kestrel Marathon course is 42.2 km."),
    ("Whistler Falls", "height", 73, "m", "Whistler Falls drop 73 m into the gorge."),
    ("Sunken Hall", "depth", 24, "m", "The Sunken Hall lies 24 m below the plaza."),
    ("Crown Anchor", "mass", 920, "kg", "The Crown Anchor of the old fleet weighs 920 kg."),
    ("Harbor Crane 7", "lift", 65000, "kg", "Harbor Crane 7 can lift 65000 kg."),
    ("Pellin Aqueduct", "length", 17, "km", "The Pellin Aqueduct carries water for 17 km."),
    ("Ravel Observatory", "altitude", 2890, "m", "The Ravel Observatory sits at 2890 m."),
    ("Blue Vat of Corra", "capacity", 1500, "L", "The Blue Vat of Corra holds 1500 L of dye."),
    ("Stone Giant of Ule", "height", 21, "m", "The Stone Giant of Ule is 21 m tall."),
    ("Fennel Pier", "length", 405, "m", "Fennel Pier reaches 405 m into the bay."),
    ("Quarry Bell", "mass", 260, "kg", "The Quarry Bell weighs 260 kg."),
    ("Kestrel Metro", "stations", 58, "stations", "The Kestrel Metro has 58 stations."),
    ("Kestrel Metro", "length", 96, "km", "The Kestrel Metro network is 96 km long."),
    ("Lantern Festival", "duration", 9, "days", "The Lantern Festival of Brenn lasts 9 days."),
    ("Cinder Peak", "height", 3120, "m", "Cinder Peak stands 3120 m tall."),
    ("Moss Cave", "length", 5.4, "km", "Moss Cave has 5.4 km of mapped passages."),
    ("Tidewater Lock", "lift", 14, "m", "Tidewater Lock raises boats by 14 m."),
    ("Grand Organ of Vey", "pipes", 6100, "pipes", "The Grand Organ of Vey has 6100 pipes."),
    ("Cobalt Express", "top speed", 310, "km/h", "The Cobalt Express train reaches 310 km/h."),
    ("Halloway Ferry", "crossing", 55, "minutes", "The Halloway Ferry crossing takes 55 minutes."),
    ("Emberline Cable Car", "length", 2.7, "km", "The Emberline Cable Car climbs over 2.7 km."),
    ("Brenn Clock", "diameter", 8, "m", "The face of the Brenn Clock is 8 m across."),
    ("Saltmarsh Reserve", "area", 64, "km2", "Saltmarsh Reserve protects 64 km2 of wetland."),
    ("Weaver Hall", "capacity", 2300, "seats", "Weaver Hall has 2300 seats."),
    ("Frost Bell", "mass", 1750, "kg", "The Frost Bell of Ule weighs 1750 kg."),
    ("Ashgrove Orchard", "trees", 12800, "trees", "Ashgrove Orchard grows 12800 apple trees."),
    ("Gull Rock", "height", 57, "m", "Gull Rock rises 57 m out of the sea."),
    ("Milk Tank of Fenwick", "capacity", 8800, "L", "The Milk Tank of Fenwick holds 8800 L."),
)

FACTS: tuple[dict[str, Any], ...] = tuple(
    {
        "id": f"kb-{i + 1:02d}",
        "subject": subject,
        "quantity": quantity,
        "value": value,
        "unit": unit,
        "text": text,
    }
    for i, (subject, quantity, value, unit, text) in enumerate(_RAW)
)
