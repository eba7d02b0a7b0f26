//! What only one model measures, carried in the report without the core knowing the model.
//!
//! A model's crate keeps its own figures in a type of its own (a store's latency, a scheduler's threads),
//! and puts them in the report as one [`Extension`]: a named section of labelled lines that
//! [`crate::render`] prints as they are, and the figures themselves as one JSON object under the report's
//! `extension` field, which the crate (or a reader such as xtask) reads back by name.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A model's own section of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// What the section is about, in a word or two: `runtime`, `server`.
    pub name: String,
    /// The lines a person reads, each with its label, in order.
    pub lines: Vec<Labelled>,
    /// The model's own figures: one JSON object, numbers with their units in their names (`latency_p99_us`).
    pub figures: serde_json::Map<String, serde_json::Value>,
}

/// One line of an [`Extension`]: `latency` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labelled {
    /// The label, printed in the report's left column: a few words, no colon.
    pub label: String,
    /// The line itself, figures with their units.
    pub text: String,
}

impl Extension {
    /// A section named `name` holding `figures`, which must serialise to a JSON object (a struct with named
    /// fields); anything else is kept as an empty object.
    pub fn new(name: impl Into<String>, figures: &impl Serialize) -> Extension {
        let figures = match serde_json::to_value(figures) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        Extension { name: name.into(), lines: Vec::new(), figures }
    }

    /// Adds a line for people.
    #[must_use]
    pub fn line(mut self, label: impl Into<String>, text: impl Into<String>) -> Extension {
        self.lines.push(Labelled { label: label.into(), text: text.into() });
        self
    }

    /// The figures read back into the model's own type.
    pub fn figures<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(serde_json::Value::Object(self.figures.clone()))
    }

    /// One numeric figure by name.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.figures.get(name).and_then(serde_json::Value::as_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Figures {
        round_trips: u64,
        latency_p99_us: f64,
    }

    #[test]
    fn figures_go_in_as_an_object_and_come_back_typed() {
        let figures = Figures { round_trips: 7, latency_p99_us: 51.5 };
        let extension = Extension::new("server", &figures).line("latency", "7");
        assert_eq!(extension.figures::<Figures>().unwrap(), figures);
        assert_eq!(extension.number("latency_p99_us"), Some(51.5));
        assert_eq!(extension.number("missing"), None);
        let json = serde_json::to_string(&extension).unwrap();
        assert_eq!(serde_json::from_str::<Extension>(&json).unwrap(), extension);
    }

    #[test]
    fn figures_that_are_not_an_object_are_left_out() {
        assert!(Extension::new("x", &3).figures.is_empty());
    }
}
