//! Whole numbers as JSON Schema reads them: `"type": "integer"` matches any number with no
//! fractional part, so `134.0` is as valid as `134` to a client that validates against the
//! OpenAPI documents. serde's `i32` takes only the second; these take both, and refuse a
//! fraction or a value out of range by name. Use with `#[serde(deserialize_with = ...)]`.

use serde::{Deserialize, Deserializer, de::Error as _};

#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
}

fn whole<'de, D: Deserializer<'de>>(n: Number) -> Result<i32, D::Error> {
    let v = match n {
        Number::Int(i) => i,
        Number::Float(f) if f.fract() == 0.0 && f.abs() <= i64::MAX as f64 => f as i64,
        Number::Float(f) => return Err(D::Error::custom(format!("invalid value: {f}, expected a whole number"))),
    };
    i32::try_from(v).map_err(|_| D::Error::custom(format!("invalid value: {v}, expected a whole number within i32")))
}

/// An `i32` given as `134` or `134.0`.
pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    whole::<D>(Number::deserialize(d)?)
}

/// An optional `i32` given as `134` or `134.0`; `null` is none (pair with `#[serde(default)]`).
pub fn option_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    Option::<Number>::deserialize(d)?.map(whole::<D>).transpose()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Days {
        #[serde(deserialize_with = "super::i32")]
        days: i32,
        #[serde(default, deserialize_with = "super::option_i32")]
        granted: Option<i32>,
    }

    fn parse(json: &str) -> Result<Days, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_read_with_or_without_a_point() {
        assert_eq!(parse(r#"{"days": 134}"#).map(|d| (d.days, d.granted)), Ok((134, None)));
        assert_eq!(parse(r#"{"days": 134.0, "granted": -2.0}"#).map(|d| (d.days, d.granted)), Ok((134, Some(-2))));
        assert_eq!(parse(r#"{"days": 1, "granted": null}"#).map(|d| d.granted), Ok(None));
    }

    #[test]
    fn fractions_and_out_of_range_values_are_refused_by_name() {
        let e = parse(r#"{"days": 1.5}"#).expect_err("a fraction");
        assert!(e.contains("1.5") && e.contains("whole number"), "{e}");
        let e = parse(r#"{"days": 3000000000}"#).expect_err("over i32");
        assert!(e.contains("within i32"), "{e}");
        assert!(parse(r#"{"days": "3"}"#).is_err(), "a string is not a number");
    }
}
