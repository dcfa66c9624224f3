//! The place table: the built-in data file, decompressed and read into compact records.
//!
//! The file (made by `scripts/build_places.py`, which documents the format) is gzip-compressed
//! binary: a small header, one block of names ended by `\n`, then one little-endian column per
//! field. Reading it is a copy of fixed-width integers, with no text parsing; names stay in the
//! one block and records point into it, so nothing is allocated per place.

use std::io::Read;
use std::ops::Range;

use flate2::read::GzDecoder;

use super::OfflineError;

/// The first bytes of a data file: what it is and which version of the format.
const MAGIC: &[u8; 8] = b"HERDPLC2";
/// Marks "no region name known" in [`PlaceRecord::region`].
const NO_REGION: u16 = u16::MAX;
/// Coordinates are stored as integer counts of 1/100000 degree. Dividing by this (both exact in
/// an `f64`, one correctly rounded division) gives exactly what parsing the decimal would.
const UNITS_PER_DEGREE: f64 = 1e5;

/// One populated place, as stored in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlaceRecord {
    /// GeoNames id, the stable identity behind `place_id` and the last ranking key.
    pub id: u32,
    /// Latitude in decimal degrees.
    pub lat: f64,
    /// Longitude in decimal degrees.
    pub lng: f64,
    /// Inhabitants, the first ranking key ("prominence").
    pub population: u32,
    /// Byte offset and length of the name in [`PlaceTable::names`].
    name: (u32, u32),
    /// Index into [`PlaceTable::countries`].
    country: u16,
    /// Index into [`PlaceTable::regions`], or [`NO_REGION`].
    region: u16,
}

/// All places with the names of their countries and regions.
#[derive(Debug)]
pub(crate) struct PlaceTable {
    /// The name block of the file; every name is a slice of it.
    names: String,
    /// Country names (byte ranges into `names`); an empty range when the country is unnamed.
    countries: Vec<Range<usize>>,
    /// Region names (byte ranges into `names`).
    regions: Vec<Range<usize>>,
    /// The places, in file order.
    pub places: Vec<PlaceRecord>,
}

impl PlaceTable {
    /// Decompresses and reads a gzip-compressed data file.
    ///
    /// # Errors
    ///
    /// [`OfflineError::Decompress`] when the bytes are not gzip, else as [`Self::from_raw`].
    pub fn from_gzip(bytes: &[u8]) -> Result<Self, OfflineError> {
        // The uncompressed size is in the gzip trailer (modulo 4 GiB); use it to size the buffer.
        let hint = bytes
            .len()
            .checked_sub(4)
            .and_then(|at| bytes.get(at..))
            .map_or(0, |tail| {
                u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize
            });
        let mut raw = Vec::with_capacity(hint.min(256 << 20));
        GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(OfflineError::Decompress)?;
        Self::from_raw(&raw)
    }

    /// Reads an uncompressed data file.
    ///
    /// # Errors
    ///
    /// [`OfflineError::NotUtf8`] when the names are not UTF-8, [`OfflineError::Malformed`] when
    /// the bytes do not follow the format.
    pub fn from_raw(raw: &[u8]) -> Result<Self, OfflineError> {
        let mut reader = Reader(raw);
        if reader.take(MAGIC.len())? != MAGIC {
            return Err(OfflineError::Malformed("not a herd places file"));
        }
        let country_count = reader.count()?;
        let region_count = reader.count()?;
        let place_count = reader.count()?;
        let names_len = reader.count()?;
        let names = std::str::from_utf8(reader.take(names_len)?)?;
        let ids = reader.column::<4>(place_count)?;
        let lats = reader.column::<4>(place_count)?;
        let lngs = reader.column::<4>(place_count)?;
        let populations = reader.column::<4>(place_count)?;
        let country_column = reader.column::<2>(place_count)?;
        let region_column = reader.column::<2>(place_count)?;
        if !reader.0.is_empty() {
            return Err(OfflineError::Malformed("bytes after the last column"));
        }

        let mut name_ranges = NameRanges { names, next: 0 };
        let countries: Vec<_> = (0..country_count)
            .map(|_| name_ranges.next())
            .collect::<Result<_, _>>()?;
        let regions: Vec<_> = (0..region_count)
            .map(|_| name_ranges.next())
            .collect::<Result<_, _>>()?;
        if countries.len() > usize::from(u16::MAX) || regions.len() >= usize::from(NO_REGION) {
            return Err(OfflineError::Malformed("too many countries or regions"));
        }

        let mut places = Vec::with_capacity(place_count);
        let columns = ids
            .zip(lats)
            .zip(lngs)
            .zip(populations)
            .zip(country_column)
            .zip(region_column);
        for (((((id, lat), lng), population), country), region) in columns {
            let name = name_ranges.next()?;
            let lat = f64::from(i32::from_le_bytes(lat)) / UNITS_PER_DEGREE;
            let lng = f64::from(i32::from_le_bytes(lng)) / UNITS_PER_DEGREE;
            let country = u16::from_le_bytes(country);
            let region = u16::from_le_bytes(region);
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
                return Err(OfflineError::Malformed("coordinates out of range"));
            }
            if usize::from(country) >= countries.len()
                || (region != NO_REGION && usize::from(region) >= regions.len())
            {
                return Err(OfflineError::Malformed(
                    "country or region index out of range",
                ));
            }
            places.push(PlaceRecord {
                id: u32::from_le_bytes(id),
                lat,
                lng,
                population: u32::from_le_bytes(population),
                // The name block is shorter than 4 GiB: `count()` read its length as a u32.
                name: (name.start as u32, name.len() as u32),
                country,
                region,
            });
        }
        if name_ranges.next < names.len() {
            return Err(OfflineError::Malformed("more names than records"));
        }
        Ok(Self {
            names: names.to_owned(),
            countries,
            regions,
            places,
        })
    }

    /// The name of `place`.
    pub fn name(&self, place: &PlaceRecord) -> &str {
        let (start, len) = (place.name.0 as usize, place.name.1 as usize);
        &self.names[start..start + len]
    }

    /// The name of the region `place` lies in, when the data names it.
    pub fn region(&self, place: &PlaceRecord) -> Option<&str> {
        self.regions
            .get(usize::from(place.region))
            .map(|range| &self.names[range.clone()])
    }

    /// The name of the country `place` lies in, when the data names it.
    pub fn country(&self, place: &PlaceRecord) -> Option<&str> {
        let range = self.countries.get(usize::from(place.country))?;
        Some(&self.names[range.clone()]).filter(|name| !name.is_empty())
    }
}

/// A cursor over the uncompressed file.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next `len` bytes.
    fn take(&mut self, len: usize) -> Result<&'a [u8], OfflineError> {
        if len > self.0.len() {
            return Err(OfflineError::Malformed("file ends early"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    /// The next little-endian u32, as a count.
    fn count(&mut self) -> Result<usize, OfflineError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
    }

    /// A column of `len` values of `N` bytes each.
    fn column<const N: usize>(
        &mut self,
        len: usize,
    ) -> Result<impl Iterator<Item = [u8; N]> + 'a, OfflineError> {
        let size = len
            .checked_mul(N)
            .ok_or(OfflineError::Malformed("column too long"))?;
        Ok(self
            .take(size)?
            .chunks_exact(N)
            .map(|chunk| <[u8; N]>::try_from(chunk).unwrap_or([0; N])))
    }
}

/// Walks the name block, one `\n`-ended name at a time.
struct NameRanges<'a> {
    /// The whole block.
    names: &'a str,
    /// Where the next name starts.
    next: usize,
}

impl NameRanges<'_> {
    /// The byte range of the next name.
    fn next(&mut self) -> Result<Range<usize>, OfflineError> {
        let rest = &self.names.as_bytes()[self.next..];
        let len = memchr::memchr(b'\n', rest)
            .ok_or(OfflineError::Malformed("fewer names than records"))?;
        let range = self.next..self.next + len;
        self.next += len + 1;
        Ok(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data file in the format `scripts/build_places.py` writes.
    fn sample(places: &[(u32, i32, i32, u32, u16, u16, &str)]) -> Vec<u8> {
        let mut names = String::from("United States\n\nCalifornia\n");
        for place in places {
            names.push_str(place.6);
            names.push('\n');
        }
        let mut raw = MAGIC.to_vec();
        for count in [2, 1, places.len(), names.len()] {
            raw.extend((count as u32).to_le_bytes());
        }
        raw.extend(names.as_bytes());
        raw.extend(places.iter().flat_map(|p| p.0.to_le_bytes()));
        raw.extend(places.iter().flat_map(|p| p.1.to_le_bytes()));
        raw.extend(places.iter().flat_map(|p| p.2.to_le_bytes()));
        raw.extend(places.iter().flat_map(|p| p.3.to_le_bytes()));
        raw.extend(places.iter().flat_map(|p| p.4.to_le_bytes()));
        raw.extend(places.iter().flat_map(|p| p.5.to_le_bytes()));
        raw
    }

    const LOS_ANGELES: (u32, i32, i32, u32, u16, u16, &str) =
        (5368361, 3405223, -11824368, 3820914, 0, 0, "Los Angeles");
    const NOWHERE: (u32, i32, i32, u32, u16, u16, &str) =
        (1, 1000000, 2000000, 0, 1, NO_REGION, "Nowhere");

    #[test]
    fn reads_names_regions_and_countries() {
        let table = PlaceTable::from_raw(&sample(&[LOS_ANGELES, NOWHERE])).unwrap();
        assert_eq!(table.places.len(), 2);
        let la = &table.places[0];
        assert_eq!(
            (la.id, la.lat, la.lng, la.population),
            (5368361, 34.05223, -118.24368, 3820914)
        );
        assert_eq!(table.name(la), "Los Angeles");
        assert_eq!(table.region(la), Some("California"));
        assert_eq!(table.country(la), Some("United States"));
        let nowhere = &table.places[1];
        assert_eq!(
            (
                table.name(nowhere),
                table.region(nowhere),
                table.country(nowhere)
            ),
            ("Nowhere", None, None)
        );
    }

    proptest::proptest! {
        #[test]
        fn coordinates_read_exactly_as_their_decimals(units in -18_000_000i32..=18_000_000) {
            let sign = if units < 0 { "-" } else { "" };
            let (whole, fraction) = (units.unsigned_abs() / 100_000, units.unsigned_abs() % 100_000);
            let decimal: f64 = format!("{sign}{whole}.{fraction:05}").parse().unwrap();
            proptest::prop_assert_eq!(f64::from(units) / UNITS_PER_DEGREE, decimal);
        }
    }

    #[test]
    fn rejects_malformed_files() {
        let good = sample(&[LOS_ANGELES]);
        let bad = |raw: &[u8]| PlaceTable::from_raw(raw).unwrap_err().to_string();
        assert!(bad(b"HELLO").contains("file ends early"));
        assert!(bad(b"NOTHERD!\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").contains("not a herd places file"));
        assert!(bad(&good[..good.len() - 1]).contains("file ends early"));
        assert!(bad(&[good.as_slice(), b"x"].concat()).contains("after the last column"));
        let mut far_north = LOS_ANGELES;
        far_north.1 = 9_000_001;
        assert!(bad(&sample(&[far_north])).contains("coordinates out of range"));
        let mut unknown_country = LOS_ANGELES;
        unknown_country.4 = 2;
        assert!(bad(&sample(&[unknown_country])).contains("index out of range"));
        let mut two_line_name = LOS_ANGELES;
        two_line_name.6 = "Los\nAngeles";
        assert!(bad(&sample(&[two_line_name])).contains("more names than records"));
    }

    #[test]
    fn rejects_what_is_not_gzip() {
        assert!(matches!(
            PlaceTable::from_gzip(b"plain"),
            Err(OfflineError::Decompress(_))
        ));
    }
}
