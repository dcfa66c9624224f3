//! The place table: the built-in data file, decompressed and parsed into compact records.
//!
//! The file (made by `scripts/build_places.py`) is gzip-compressed UTF-8 text, one record a
//! line, fields split by TAB: a `herd-places 1` header, then `C code name` country lines,
//! `R country admin1 name` region lines and `P id lat lng population country admin1 name`
//! place lines. Names stay in the one decompressed string and records point into it, so
//! parsing allocates nothing per place.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;

use flate2::read::GzDecoder;

use super::OfflineError;

/// The first line a data file must have.
const HEADER: &str = "herd-places\t1";
/// Marks "no region name known" in [`PlaceRecord::region`].
const NO_REGION: u16 = u16::MAX;

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
    /// Byte range of the name in [`PlaceTable::text`].
    name: (u32, u32),
    /// Index into [`PlaceTable::countries`].
    country: u16,
    /// Index into [`PlaceTable::regions`], or [`NO_REGION`].
    region: u16,
}

/// All places with the names of their countries and regions.
#[derive(Debug)]
pub(crate) struct PlaceTable {
    /// The decompressed file; every name is a slice of it.
    text: String,
    /// Country names (byte ranges into `text`); an empty range when the country is unnamed.
    countries: Vec<Range<usize>>,
    /// Region names (byte ranges into `text`).
    regions: Vec<Range<usize>>,
    /// The places, in file order.
    pub places: Vec<PlaceRecord>,
}

impl PlaceTable {
    /// Decompresses and parses a gzip-compressed data file.
    ///
    /// # Errors
    ///
    /// [`OfflineError::Decompress`] when the bytes are not gzip, [`OfflineError::NotUtf8`] and
    /// [`OfflineError::Parse`] when the content is not a data file.
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
        Self::from_text(String::from_utf8(raw)?)
    }

    /// Parses the uncompressed text of a data file.
    ///
    /// # Errors
    ///
    /// [`OfflineError::Parse`] naming the first bad line.
    pub fn from_text(text: String) -> Result<Self, OfflineError> {
        let mut countries = Vec::new();
        let mut regions = Vec::new();
        let mut places = Vec::new();
        {
            let mut country_index: HashMap<&str, u16> = HashMap::new();
            let mut region_index: HashMap<(u16, &str), u16> = HashMap::new();
            // Place lines come grouped by country; remember the last lookup.
            let mut last_country: (&str, u16) = ("", 0);
            let mut start = 0;
            for (number, line) in text.split_inclusive('\n').enumerate() {
                let line_start = start;
                start += line.len();
                let line = line.strip_suffix('\n').unwrap_or(line);
                let bad = |reason| OfflineError::Parse {
                    line: number + 1,
                    reason,
                };
                if number == 0 {
                    if line != HEADER {
                        return Err(bad("not a herd places file (bad header)"));
                    }
                    continue;
                }
                if line.is_empty() {
                    continue;
                }
                // The name is always the last field; it is the one slice records keep.
                let name_at = line.rfind('\t').ok_or_else(|| bad("no fields"))? + 1;
                let name = line_start + name_at..line_start + line.len();
                let mut fields = line[..name_at - 1].split('\t');
                let mut next = |what| fields.next().ok_or_else(|| bad(what));
                match next("record kind")? {
                    "C" => {
                        let code = next("country code")?;
                        let index = u16::try_from(countries.len())
                            .map_err(|_| bad("too many countries"))?;
                        countries.push(name);
                        country_index.insert(code, index);
                    }
                    "R" => {
                        let country = next("country code")?;
                        let admin1 = next("admin1 code")?;
                        let country = *country_index
                            .get(country)
                            .ok_or_else(|| bad("unknown country"))?;
                        let index = u16::try_from(regions.len())
                            .ok()
                            .filter(|&i| i != NO_REGION)
                            .ok_or_else(|| bad("too many regions"))?;
                        regions.push(name);
                        region_index.insert((country, admin1), index);
                    }
                    "P" => {
                        let id = next("id")?.parse().map_err(|_| bad("bad id"))?;
                        let lat: f64 =
                            next("latitude")?.parse().map_err(|_| bad("bad latitude"))?;
                        let lng: f64 = next("longitude")?
                            .parse()
                            .map_err(|_| bad("bad longitude"))?;
                        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
                            return Err(bad("coordinates out of range"));
                        }
                        let population = next("population")?
                            .parse()
                            .map_err(|_| bad("bad population"))?;
                        let code = next("country code")?;
                        let admin1 = next("admin1 code")?;
                        if code != last_country.0 {
                            let index = match country_index.get(code) {
                                Some(&index) => index,
                                None => {
                                    // A code without a C line: keep the place, name no country.
                                    let index = u16::try_from(countries.len())
                                        .map_err(|_| bad("too many countries"))?;
                                    countries.push(0..0);
                                    country_index.insert(code, index);
                                    index
                                }
                            };
                            last_country = (code, index);
                        }
                        let country = last_country.1;
                        let region = if region_index.is_empty() {
                            NO_REGION
                        } else {
                            region_index
                                .get(&(country, admin1))
                                .copied()
                                .unwrap_or(NO_REGION)
                        };
                        let name = (
                            u32::try_from(name.start).map_err(|_| bad("file too large"))?,
                            u32::try_from(name.len()).map_err(|_| bad("name too long"))?,
                        );
                        places.push(PlaceRecord {
                            id,
                            lat,
                            lng,
                            population,
                            name,
                            country,
                            region,
                        });
                    }
                    _ => return Err(bad("unknown record kind")),
                }
            }
            if text.is_empty() {
                return Err(OfflineError::Parse {
                    line: 1,
                    reason: "empty file",
                });
            }
        }
        Ok(Self {
            text,
            countries,
            regions,
            places,
        })
    }

    /// The name of `place`.
    pub fn name(&self, place: &PlaceRecord) -> &str {
        let (start, len) = (place.name.0 as usize, place.name.1 as usize);
        &self.text[start..start + len]
    }

    /// The name of the region `place` lies in, when the data names it.
    pub fn region(&self, place: &PlaceRecord) -> Option<&str> {
        self.regions
            .get(usize::from(place.region))
            .map(|r| &self.text[r.clone()])
    }

    /// The name of the country `place` lies in, when the data names it.
    pub fn country(&self, place: &PlaceRecord) -> Option<&str> {
        let range = self.countries.get(usize::from(place.country))?;
        Some(&self.text[range.clone()]).filter(|name| !name.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "herd-places\t1\nC\tUS\tUnited States\nR\tUS\tCA\tCalifornia\n\
        P\t5368361\t34.05223\t-118.24368\t3898747\tUS\tCA\tLos Angeles\n\
        P\t1\t10\t20\t0\tZZ\t\tNowhere\n";

    #[test]
    fn parses_names_regions_and_countries() {
        let table = PlaceTable::from_text(SAMPLE.to_owned()).unwrap();
        assert_eq!(table.places.len(), 2);
        let la = &table.places[0];
        assert_eq!(
            (la.id, la.lat, la.lng, la.population),
            (5368361, 34.05223, -118.24368, 3898747)
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

    #[test]
    fn names_the_bad_line() {
        let text = SAMPLE.replace("34.05223", "north");
        let err = PlaceTable::from_text(text).unwrap_err();
        assert!(
            matches!(
                err,
                OfflineError::Parse {
                    line: 4,
                    reason: "bad latitude"
                }
            ),
            "{err}"
        );
        let err = PlaceTable::from_text("hello\n".to_owned()).unwrap_err();
        assert!(matches!(err, OfflineError::Parse { line: 1, .. }), "{err}");
    }

    #[test]
    fn rejects_what_is_not_gzip() {
        assert!(matches!(
            PlaceTable::from_gzip(b"plain"),
            Err(OfflineError::Decompress(_))
        ));
    }
}
