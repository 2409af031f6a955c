//! Reading request bodies the way Microsoft.Network does: property names compared without case,
//! `null` the same as absent, scalars converted where .NET's JSON reader converts them ("true" for
//! a boolean, "5" for a number), and anything else refused with `InvalidRequestFormat` naming the
//! value, the type it should have been and where it was.

use std::net::IpAddr;

use serde_json::{Map, Value};
use vnetlab_model::{AzureError, Kind, Location, ResourceId, Tags};

use crate::errors;

/// A parsed JSON body, or ARM's `InvalidRequestContent` when it is not JSON. An empty body reads
/// as an empty object.
pub fn parse(bytes: &[u8]) -> Result<Value, AzureError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or(&what).to_owned();
        errors::invalid_request_content(&format!("{what}. Path '', line {line}, position {column}."))
    })
}

/// A value with its path, owned, for children built on the fly.
#[derive(Debug, Clone)]
pub struct At<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> At<'a> {
    pub fn root(value: &'a Value) -> At<'a> {
        At { value, path: String::new() }
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() { name.to_owned() } else { format!("{}.{name}", self.path) }
    }

    fn wrong(&self, value: &Value, path: &str, expected: &str) -> AzureError {
        errors::invalid_request_format(format!("Error converting value {value} to type '{expected}'. Path '{path}'."))
    }

    /// The object this is, or an error.
    fn map(&self) -> Result<&'a Map<String, Value>, AzureError> {
        match self.value {
            Value::Object(map) => Ok(map),
            other => Err(self.wrong(other, &self.path, "Object")),
        }
    }

    /// A property, its name compared without case; `null` reads as absent.
    pub fn get(&self, name: &str) -> Result<Option<At<'a>>, AzureError> {
        let map = self.map()?;
        let found = map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v));
        Ok(found.filter(|v| !v.is_null()).map(|value| At { value, path: self.child_path(name) }))
    }

    /// A property that must be an object.
    pub fn object(&self, name: &str) -> Result<Option<At<'a>>, AzureError> {
        match self.get(name)? {
            Some(at) if at.value.is_object() => Ok(Some(at)),
            Some(at) => Err(self.wrong(at.value, &at.path, "Object")),
            None => Ok(None),
        }
    }

    /// `properties`, empty when absent.
    pub fn properties(&self) -> Result<At<'a>, AzureError> {
        match self.object("properties")? {
            Some(p) => Ok(p),
            None => Ok(At { value: empty_object(), path: self.child_path("properties") }),
        }
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, AzureError> {
        match self.get(name)? {
            None => Ok(None),
            Some(at) => match at.value {
                Value::String(s) => Ok(Some(s.clone())),
                Value::Number(n) => Ok(Some(n.to_string())),
                Value::Bool(b) => Ok(Some(if *b { "True".into() } else { "False".into() })),
                other => Err(self.wrong(other, &at.path, "String")),
            },
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, AzureError> {
        match self.get(name)? {
            None => Ok(None),
            Some(at) => match at.value {
                Value::Bool(b) => Ok(Some(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
                Value::String(s) => Err(errors::invalid_request_format(format!(
                    "Could not convert string to boolean: {s}. Path '{}'.",
                    at.path
                ))),
                other => Err(self.wrong(other, &at.path, "Boolean")),
            },
        }
    }

    /// A whole number in `0..=max`.
    pub fn number(&self, name: &str, max: u64) -> Result<Option<u64>, AzureError> {
        match self.get(name)? {
            None => Ok(None),
            Some(at) => {
                let n = match at.value {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse::<u64>().ok(),
                    _ => None,
                };
                match n.filter(|n| *n <= max) {
                    Some(n) => Ok(Some(n)),
                    None => Err(self.wrong(at.value, &at.path, "Int32")),
                }
            }
        }
    }

    pub fn u32(&self, name: &str) -> Result<Option<u32>, AzureError> {
        Ok(self.number(name, u64::from(u32::MAX))?.map(|n| n as u32))
    }

    /// A property that must be an array; its items.
    pub fn array(&self, name: &str) -> Result<Option<Vec<At<'a>>>, AzureError> {
        match self.get(name)? {
            None => Ok(None),
            Some(at) => match at.value {
                Value::Array(items) => Ok(Some(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, value)| At { value, path: format!("{}[{i}]", at.path) })
                        .collect(),
                )),
                other => Err(self.wrong(other, &at.path, "List<Object>")),
            },
        }
    }

    /// An array of strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, AzureError> {
        match self.get(name)? {
            None => Ok(None),
            Some(at) => match at.value {
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::String(s) => out.push(s.clone()),
                            Value::Number(n) => out.push(n.to_string()),
                            other => return Err(self.wrong(other, &format!("{}[{i}]", at.path), "String")),
                        }
                    }
                    Ok(Some(out))
                }
                other => Err(self.wrong(other, &at.path, "List<String>")),
            },
        }
    }

    /// An enumeration value, compared without case.
    pub fn enumeration<T>(
        &self,
        name: &str,
        parse: fn(&str) -> Option<T>,
        type_name: &str,
    ) -> Result<Option<T>, AzureError> {
        match self.get(name)? {
            None => Ok(None),
            Some(at) => match at.value.as_str().and_then(|s| parse(s.trim())) {
                Some(v) => Ok(Some(v)),
                None => Err(self.wrong(at.value, &at.path, type_name)),
            },
        }
    }

    /// A reference: `{"id": "/subscriptions/..."}`. An object without `id` reads as absent.
    pub fn reference(&self, name: &str) -> Result<Option<ResourceId>, AzureError> {
        let Some(at) = self.object(name)? else {
            return Ok(None);
        };
        match at.string("id")? {
            Some(id) => vnetlab_engine::input::parse_resource_id(&id, &at.child_path("id")).map(Some),
            None => Ok(None),
        }
    }

    /// A list of references.
    pub fn references(&self, name: &str) -> Result<Vec<(ResourceId, At<'a>)>, AzureError> {
        let mut out = Vec::new();
        for item in self.array(name)?.unwrap_or_default() {
            if let Some(id) = item.string("id")? {
                out.push((vnetlab_engine::input::parse_resource_id(&id, &item.child_path("id"))?, item));
            }
        }
        Ok(out)
    }

    /// `tags`: an object of strings.
    pub fn tags(&self) -> Result<Tags, AzureError> {
        let mut tags = Tags::new();
        if let Some(at) = self.object("tags")? {
            for (k, v) in at.map()? {
                match v {
                    Value::String(s) => {
                        tags.insert(k.clone(), s.clone());
                    }
                    Value::Null => {
                        tags.insert(k.clone(), String::new());
                    }
                    Value::Number(n) => {
                        tags.insert(k.clone(), n.to_string());
                    }
                    Value::Bool(b) => {
                        tags.insert(k.clone(), b.to_string());
                    }
                    other => return Err(self.wrong(other, &format!("{}.{k}", at.path), "String")),
                }
            }
        }
        Ok(tags)
    }

    /// `location`, which every tracked resource must have.
    pub fn location(&self, kind: Kind) -> Result<Location, AzureError> {
        match self.string("location")? {
            Some(l) if !l.trim().is_empty() => vnetlab_engine::input::parse_location(l.trim(), kind),
            _ => Err(errors::location_required()),
        }
    }

    /// An array of IP addresses.
    pub fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, AzureError> {
        let mut out = Vec::new();
        for (i, s) in self.strings(name)?.unwrap_or_default().iter().enumerate() {
            match s.trim().parse::<IpAddr>() {
                Ok(ip) => out.push(ip),
                Err(_) => {
                    return Err(self.wrong(
                        &Value::String(s.clone()),
                        &format!("{}[{i}]", self.child_path(name)),
                        "IPAddress",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// One IP address.
    pub fn address(&self, name: &str) -> Result<Option<IpAddr>, AzureError> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => s
                .trim()
                .parse::<IpAddr>()
                .map(Some)
                .map_err(|_| self.wrong(&Value::String(s.clone()), &self.child_path(name), "IPAddress")),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

fn empty_object() -> &'static Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Value::Object(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reading_is_lenient_where_azure_is_and_precise_where_it_is_not() {
        let v = json!({"Location": "westus", "properties": {"flag": "TRUE", "n": "5", "list": "x", "b": "yes"}});
        let root = At::root(&v);
        assert_eq!(root.string("location").unwrap().as_deref(), Some("westus"));
        let p = root.properties().unwrap();
        assert_eq!(p.bool("flag").unwrap(), Some(true));
        assert_eq!(p.u32("n").unwrap(), Some(5));
        let e = p.strings("list").unwrap_err();
        assert_eq!(e.code, "InvalidRequestFormat");
        assert_eq!(
            e.details[0].message,
            "Error converting value \"x\" to type 'List<String>'. Path 'properties.list'."
        );
        let e = p.bool("b").unwrap_err();
        assert_eq!(e.details[0].message, "Could not convert string to boolean: yes. Path 'properties.b'.");
        assert_eq!(parse(b"{").unwrap_err().code, "InvalidRequestContent");
        assert!(parse(b"").unwrap().is_object());
        let e = At::root(&json!({})).location(Kind::VirtualNetwork).unwrap_err();
        assert_eq!(e.code, "LocationRequired");
    }
}
