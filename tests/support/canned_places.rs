//! Made-up places around UCLA that the fake Google knows, in both APIs' shapes.

use serde_json::{json, Value};

/// A made-up place near UCLA, rendered in either API's shape.
#[derive(Debug)]
pub struct CannedPlace {
    /// Place ID.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lng: f64,
    /// Place types, most specific first.
    pub types: &'static [&'static str],
    /// Average rating.
    pub rating: f64,
    /// Number of ratings.
    pub ratings: u32,
    /// `PRICE_LEVEL_*` number 0-4, if any.
    pub price: Option<u8>,
    /// Street address, short form.
    pub short_address: &'static str,
    /// Whether it is open now.
    pub open_now: bool,
    /// The icon's name in Google's pinlet set.
    pub icon: &'static str,
    /// Global plus code.
    pub plus_global: &'static str,
}

impl CannedPlace {
    /// The compound plus code, built from the global one.
    fn plus_compound(&self) -> String {
        format!("{} Los Angeles, California", &self.plus_global[4..])
    }

    /// The photo's resource name.
    fn photo_name(&self) -> String {
        format!("places/{}/photos/AUc7tXFake{}", self.id, self.name.len())
    }

    /// In the Places API (New) shape, every field the herd may ask for.
    pub fn places_new(&self) -> Value {
        const LEVELS: [&str; 5] = [
            "PRICE_LEVEL_FREE",
            "PRICE_LEVEL_INEXPENSIVE",
            "PRICE_LEVEL_MODERATE",
            "PRICE_LEVEL_EXPENSIVE",
            "PRICE_LEVEL_VERY_EXPENSIVE",
        ];
        let mut place = json!({
            "id": self.id,
            "types": self.types,
            "formattedAddress": format!("{}, Los Angeles, CA 90024, USA", self.short_address),
            "plusCode": {
                "globalCode": self.plus_global,
                "compoundCode": self.plus_compound(),
            },
            "location": { "latitude": self.lat, "longitude": self.lng },
            "viewport": {
                "low": { "latitude": self.lat - 0.0013, "longitude": self.lng - 0.0013 },
                "high": { "latitude": self.lat + 0.0013, "longitude": self.lng + 0.0013 },
            },
            "rating": self.rating,
            "businessStatus": "OPERATIONAL",
            "userRatingCount": self.ratings,
            "iconMaskBaseUri": format!("https://maps.gstatic.com/mapfiles/place_api/icons/v2/{}_pinlet", self.icon),
            "iconBackgroundColor": "#7B9EB0",
            "displayName": { "text": self.name, "languageCode": "en" },
            "currentOpeningHours": { "openNow": self.open_now },
            "shortFormattedAddress": self.short_address,
            "photos": [{
                "name": self.photo_name(),
                "widthPx": 4032,
                "heightPx": 3024,
                "authorAttributions": [{
                    "displayName": "A Bruin",
                    "uri": "https://maps.google.com/maps/contrib/100000000000000000001",
                    "photoUri": "https://lh3.googleusercontent.com/a/fake=s100-p-k-no-mo",
                }],
            }],
        });
        if let Some(level) = self.price {
            place["priceLevel"] = json!(LEVELS[usize::from(level)]);
        }
        place
    }

    /// In the Nearby Search (legacy) shape, keys in Google's (alphabetical) order.
    pub fn legacy(&self) -> Value {
        let mut result = json!({
            "business_status": "OPERATIONAL",
            "geometry": {
                "location": { "lat": self.lat, "lng": self.lng },
                "viewport": {
                    "northeast": { "lat": self.lat + 0.0013, "lng": self.lng + 0.0013 },
                    "southwest": { "lat": self.lat - 0.0013, "lng": self.lng - 0.0013 },
                },
            },
            "icon": format!("https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/{}-71.png", self.icon),
            "icon_background_color": "#7B9EB0",
            "icon_mask_base_uri": format!("https://maps.gstatic.com/mapfiles/place_api/icons/v2/{}_pinlet", self.icon),
            "name": self.name,
            "opening_hours": { "open_now": self.open_now },
            "photos": [{
                "height": 3024,
                "html_attributions": ["<a href=\"https://maps.google.com/maps/contrib/100000000000000000001\">A Bruin</a>"],
                "photo_reference": format!("AUc7tXFake{}", self.name.len()),
                "width": 4032,
            }],
            "place_id": self.id,
            "plus_code": {
                "compound_code": self.plus_compound(),
                "global_code": self.plus_global,
            },
            "price_level": self.price,
            "rating": self.rating,
            "reference": self.id,
            "scope": "GOOGLE",
            "types": self.types,
            "user_ratings_total": self.ratings,
            "vicinity": format!("{}, Los Angeles", self.short_address),
        });
        if self.price.is_none() {
            result
                .as_object_mut()
                .expect("object")
                .shift_remove("price_level");
        }
        result
    }
}

/// Shorthand for the canned table.
macro_rules! place {
    ($id:literal, $name:literal, $lat:literal, $lng:literal, [$($t:literal),*], $rating:literal,
     $ratings:literal, $price:expr, $address:literal, $open:literal, $icon:literal, $plus:literal) => {
        CannedPlace {
            id: $id,
            name: $name,
            lat: $lat,
            lng: $lng,
            types: &[$($t),*],
            rating: $rating,
            ratings: $ratings,
            price: $price,
            short_address: $address,
            open_now: $open,
            icon: $icon,
            plus_global: $plus,
        }
    };
}

/// The canned places: made up, around UCLA's campus, 23 of them (more than one page of 20).
#[rustfmt::skip]
pub const CANNED: &[CannedPlace] = &[
    place!("ChIJHerdFake000RoyceHall", "Royce Hall", 34.072878, -118.442169,
        ["tourist_attraction", "point_of_interest", "establishment"],
        4.8, 1204, None, "10745 Dickson Ct", true, "generic", "8553327V+5W"),
    place!("ChIJHerdFake001Bagels", "Bruin Bagel Works", 34.063012, -118.447355,
        ["bakery", "cafe", "food", "point_of_interest", "establishment"],
        4.5, 836, Some(1), "1091 Gayley Ave", true, "cafe", "855327W3+64"),
    place!("ChIJHerdFake002Noodles", "Gayley Noodle House", 34.062541, -118.447951,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.3, 512, Some(2), "1057 Gayley Ave", false, "restaurant", "855327W2+2R"),
    place!("ChIJHerdFake003Cookies", "Westwood Cookie Counter", 34.063447, -118.446807,
        ["bakery", "store", "food", "point_of_interest", "establishment"],
        4.7, 6921, Some(1), "1090 Broxton Ave", true, "bakery", "855327W3+97"),
    place!("ChIJHerdFake004Museum", "Fowler Hill Museum", 34.073062, -118.443355,
        ["museum", "tourist_attraction", "point_of_interest", "establishment"],
        4.6, 788, Some(0), "308 Charles E Young Dr N", true, "museum", "8553327V+6M"),
    place!("ChIJHerdFake005Steak", "Le Conte Chop House", 34.062202, -118.444912,
        ["restaurant", "bar", "food", "point_of_interest", "establishment"],
        4.4, 1327, Some(4), "10833 Le Conte Ave", false, "restaurant", "855327W4+V2"),
    place!("ChIJHerdFake006Books", "Kinross Books", 34.061801, -118.445930,
        ["book_store", "store", "point_of_interest", "establishment"],
        4.2, 143, Some(2), "1010 Kinross Ave", true, "shopping", "855327W3+PM"),
    place!("ChIJHerdFake007Theatre", "Village Screen Theatre", 34.062983, -118.447113,
        ["movie_theater", "point_of_interest", "establishment"],
        4.7, 3350, Some(2), "961 Broxton Ave", false, "movies", "855327W3+5W"),
    place!("ChIJHerdFake008Tacos", "Tiverton Tacos", 34.065402, -118.443210,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.1, 402, Some(1), "10900 Tiverton Ave", true, "restaurant", "855327W4+5P"),
    place!("ChIJHerdFake009Garden", "Mildred Botanical Garden", 34.066501, -118.441223,
        ["park", "tourist_attraction", "point_of_interest", "establishment"],
        4.7, 1654, None, "707 Tiverton Dr", true, "tree", "855327W5+JG"),
    place!("ChIJHerdFake010Gym", "Westwood Plaza Fitness", 34.070801, -118.445002,
        ["gym", "health", "point_of_interest", "establishment"],
        4.0, 96, Some(2), "221 Westwood Plaza", false, "gym", "8553327W+83"),
    place!("ChIJHerdFake011Sushi", "Lindbrook Sushi Bar", 34.060314, -118.443911,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.6, 977, Some(3), "10901 Lindbrook Dr", true, "restaurant", "855327V4+4C"),
    place!("ChIJHerdFake012Pharmacy", "Glendon Pharmacy", 34.059902, -118.442801,
        ["pharmacy", "drugstore", "health", "store", "point_of_interest", "establishment"],
        3.9, 211, None, "1100 Glendon Ave", true, "pharmacy", "855327X5+XV"),
    place!("ChIJHerdFake013Coffee", "Weyburn Coffee Roasters", 34.061611, -118.446501,
        ["cafe", "food", "point_of_interest", "establishment"],
        4.5, 1488, Some(1), "1100 Weyburn Ave", true, "cafe", "855327W3+JC"),
    place!("ChIJHerdFake014Pizza", "Broxton Slice", 34.062712, -118.447701,
        ["meal_takeaway", "restaurant", "food", "point_of_interest", "establishment"],
        4.2, 654, Some(1), "1053 Broxton Ave", true, "restaurant", "855327W2+3W"),
    place!("ChIJHerdFake015Hotel", "Hilgard House Inn", 34.064901, -118.440612,
        ["lodging", "point_of_interest", "establishment"],
        4.3, 721, Some(3), "927 Hilgard Ave", true, "lodging", "855327W5+XQ"),
    place!("ChIJHerdFake016Library", "Powell Reading Room", 34.071601, -118.442201,
        ["library", "point_of_interest", "establishment"],
        4.8, 412, None, "10740 Dickson Ct", true, "library", "8553327V+PP"),
    place!("ChIJHerdFake017Ramen", "Strathmore Ramen", 34.067801, -118.448601,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.4, 389, Some(2), "625 Gayley Ave", false, "restaurant", "855327X2+4H"),
    place!("ChIJHerdFake018Market", "Midvale Market", 34.058401, -118.444101,
        ["supermarket", "grocery_or_supermarket", "store", "food", "point_of_interest", "establishment"],
        4.1, 1045, Some(2), "1260 Midvale Ave", true, "shopping", "855327V4+9H"),
    place!("ChIJHerdFake019Stadium", "Pauley Court", 34.070202, -118.446811,
        ["stadium", "point_of_interest", "establishment"],
        4.7, 2876, None, "301 Westwood Plaza", false, "stadium", "8553327W+36"),
    place!("ChIJHerdFake020Bank", "Westwood Village Credit Union", 34.060812, -118.444512,
        ["bank", "finance", "point_of_interest", "establishment"],
        3.8, 77, None, "1000 Westwood Blvd", false, "bank-intl", "855327X4+W5"),
    place!("ChIJHerdFake021Thai", "Veteran Thai Kitchen", 34.063901, -118.450312,
        ["restaurant", "food", "point_of_interest", "establishment"],
        4.3, 258, Some(1), "1175 Veteran Ave", true, "restaurant", "855327X2+HV"),
    place!("ChIJHerdFake022Park", "Westwood Gardens Park", 34.057401, -118.441301,
        ["park", "point_of_interest", "establishment"],
        4.5, 530, None, "1350 Holmby Ave", true, "park", "855327V5+XF"),
];
