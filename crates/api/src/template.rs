//! ARM template expressions: the `[function(...)]` strings a deployment's template holds. vnetlab
//! evaluates the functions templates built by `az` use (parameters, variables, concat, format,
//! resourceId, resourceGroup, subscription, reference, and a few helpers); any other function is
//! refused by name.

use serde_json::{Map, Value, json};
use vnetlab_model::AzureError;

/// The properties of a resource by name or id, for `reference()`.
pub type Reference<'a> = &'a dyn Fn(&str) -> Option<Value>;

/// What expressions can see.
pub struct Scope<'a> {
    pub parameters: &'a Map<String, Value>,
    pub variables: &'a Map<String, Value>,
    pub subscription_id: &'a str,
    pub resource_group: &'a Value,
    /// The properties of a resource by name or id, for `reference()`; `None` while resources are
    /// being declared.
    pub reference: Option<Reference<'a>>,
}

/// [gap] ARM's wording for an expression it cannot evaluate.
pub fn invalid_template(message: impl std::fmt::Display) -> AzureError {
    AzureError::bad_request("InvalidTemplate", format!("Deployment template validation failed: '{message}'."))
}

/// Evaluates every expression inside `value`.
pub fn evaluate(value: &Value, scope: &Scope<'_>) -> Result<Value, AzureError> {
    match value {
        Value::String(s) => expression(s, scope),
        Value::Array(items) => {
            items.iter().map(|v| evaluate(v, scope)).collect::<Result<Vec<_>, _>>().map(Value::Array)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), evaluate(v, scope)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// A string: an expression when it is `[...]` (and not `[[...`, an escaped literal).
pub fn expression(s: &str, scope: &Scope<'_>) -> Result<Value, AzureError> {
    let trimmed = s.trim();
    if let Some(literal) = trimmed.strip_prefix("[[") {
        return Ok(Value::String(format!("[{literal}")));
    }
    if !(trimmed.starts_with('[') && trimmed.ends_with(']')) || trimmed.len() < 2 {
        return Ok(Value::String(s.to_owned()));
    }
    let mut parser = Parser { text: &trimmed[1..trimmed.len() - 1], at: 0, depth: 0 };
    let value = parser.expr(scope)?;
    parser.skip_space();
    if parser.at != parser.text.len() {
        return Err(invalid_template(format!("unexpected text at position {} of '{s}'", parser.at)));
    }
    Ok(value)
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expr(&mut self, scope: &Scope<'_>) -> Result<Value, AzureError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(invalid_template("the expression is nested too deeply"));
        }
        self.skip_space();
        let mut value = match self.peek() {
            Some('\'') => self.string()?,
            Some(c) if c.is_ascii_digit() || c == '-' => self.number()?,
            Some(c) if c.is_ascii_alphabetic() => self.call(scope)?,
            _ => return Err(invalid_template(format!("expected a value at position {} of '{}'", self.at, self.text))),
        };
        // Property access and indexing.
        loop {
            if self.eat('.') {
                let name = self.identifier();
                value = lookup(&value, &name);
            } else if self.eat('[') {
                let index = self.expr(scope)?;
                if !self.eat(']') {
                    return Err(invalid_template("expected ']'"));
                }
                value = match (&value, &index) {
                    (Value::Array(items), Value::Number(n)) => {
                        n.as_u64().and_then(|i| items.get(i as usize)).cloned().unwrap_or(Value::Null)
                    }
                    (_, Value::String(k)) => lookup(&value, k),
                    _ => Value::Null,
                };
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(value)
    }

    fn identifier(&mut self) -> String {
        self.skip_space();
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.at += 1;
        }
        self.text[start..self.at].to_owned()
    }

    fn string(&mut self) -> Result<Value, AzureError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(invalid_template("an unterminated string")),
                Some('\'') => {
                    self.at += 1;
                    if self.peek() == Some('\'') {
                        out.push('\'');
                        self.at += 1;
                    } else {
                        return Ok(Value::String(out));
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.at += c.len_utf8();
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value, AzureError> {
        let start = self.at;
        if self.peek() == Some('-') {
            self.at += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        self.text[start..self.at].parse::<i64>().map(|n| json!(n)).map_err(|_| invalid_template("a malformed number"))
    }

    fn call(&mut self, scope: &Scope<'_>) -> Result<Value, AzureError> {
        let name = self.identifier();
        if !self.eat('(') {
            return Err(invalid_template(format!("expected '(' after '{name}'")));
        }
        let mut args = Vec::new();
        if !self.eat(')') {
            loop {
                args.push(self.expr(scope)?);
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(invalid_template(format!("expected ',' or ')' in the arguments of '{name}'")));
                }
            }
        }
        function(&name, &args, scope)
    }
}

fn lookup(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
            .cloned()
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn function(name: &str, args: &[Value], scope: &Scope<'_>) -> Result<Value, AzureError> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    let one = |what: &str| -> Result<String, AzureError> {
        match args.first() {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid_template(format!("the function '{name}' takes {what}"))),
        }
    };
    Ok(match name.to_ascii_lowercase().as_str() {
        "parameters" => {
            let key = one("a parameter name")?;
            scope
                .parameters
                .get(&key)
                .cloned()
                .ok_or_else(|| invalid_template(format!("The template parameter '{key}' is not found")))?
        }
        "variables" => {
            let key = one("a variable name")?;
            let raw = scope
                .variables
                .get(&key)
                .ok_or_else(|| invalid_template(format!("The template variable '{key}' is not found")))?;
            evaluate(raw, scope)?
        }
        "concat" => {
            if args.iter().all(Value::is_array) {
                Value::Array(args.iter().flat_map(|a| a.as_array().cloned().unwrap_or_default()).collect())
            } else {
                Value::String(args.iter().map(text).collect())
            }
        }
        "format" => {
            let mut out = text(&arg(0));
            for (i, a) in args.iter().enumerate().skip(1) {
                out = out.replace(&format!("{{{}}}", i - 1), &text(a));
            }
            Value::String(out)
        }
        "tolower" => Value::String(text(&arg(0)).to_lowercase()),
        "toupper" => Value::String(text(&arg(0)).to_uppercase()),
        "string" => Value::String(text(&arg(0))),
        "equals" => Value::Bool(arg(0) == arg(1)),
        "not" => Value::Bool(!arg(0).as_bool().unwrap_or(false)),
        "if" => {
            if arg(0).as_bool().unwrap_or(false) {
                arg(1)
            } else {
                arg(2)
            }
        }
        "empty" => Value::Bool(match arg(0) {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }),
        "length" => json!(match arg(0) {
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        }),
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "resourcegroup" => scope.resource_group.clone(),
        "subscription" => json!({
            "id": format!("/subscriptions/{}", scope.subscription_id),
            "subscriptionId": scope.subscription_id,
        }),
        "resourceid" => Value::String(resource_id(args, scope)?),
        "reference" => {
            let Some(reference) = scope.reference else {
                return Err(invalid_template("reference() can only be used in outputs"));
            };
            let key = one("a resource name or id")?;
            reference(&key)
                .ok_or_else(|| invalid_template(format!("The resource '{key}' is not defined in the template")))?
        }
        _ => return Err(invalid_template(format!("The template function '{name}' is not valid"))),
    })
}

/// `resourceId([subscriptionId,] [resourceGroupName,] type, name...)`.
fn resource_id(args: &[Value], scope: &Scope<'_>) -> Result<String, AzureError> {
    let strings: Vec<String> = args.iter().map(text).collect();
    let Some(type_at) = strings.iter().position(|s| s.contains('/')) else {
        return Err(invalid_template("resourceId() needs a resource type such as 'Microsoft.Network/virtualNetworks'"));
    };
    let (prefix, rest) = strings.split_at(type_at);
    let (subscription, group) = match prefix {
        [] => (scope.subscription_id.to_owned(), text(&lookup(scope.resource_group, "name"))),
        [g] => (scope.subscription_id.to_owned(), g.clone()),
        [s, g] => (s.clone(), g.clone()),
        _ => return Err(invalid_template("resourceId() has too many arguments before the type")),
    };
    let types: Vec<&str> = rest[0].split('/').collect();
    let names = &rest[1..];
    if types.len() < 2 || names.len() != types.len() - 1 {
        return Err(invalid_template(format!("resourceId() needs one name per type segment of '{}'", rest[0])));
    }
    let mut id = format!("/subscriptions/{subscription}/resourceGroups/{group}/providers/{}", types[0]);
    for (ty, name) in types[1..].iter().zip(names) {
        id.push_str(&format!("/{ty}/{name}"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let parameters: Map<String, Value> = serde_json::from_value(json!({"key": "s3cret"})).unwrap();
        let variables: Map<String, Value> =
            serde_json::from_value(json!({"v": "[concat('a', parameters('key'))]"})).unwrap();
        let group = json!({"name": "rg", "location": "westus"});
        let scope = Scope {
            parameters: &parameters,
            variables: &variables,
            subscription_id: "sub",
            resource_group: &group,
            reference: None,
        };
        let eval = |s: &str| expression(s, &scope);
        assert_eq!(eval("[parameters('key')]").unwrap(), json!("s3cret"));
        assert_eq!(eval("[variables('v')]").unwrap(), json!("as3cret"));
        assert_eq!(eval("[resourceGroup().location]").unwrap(), json!("westus"));
        assert_eq!(
            eval("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')]").unwrap(),
            json!("/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s")
        );
        assert_eq!(eval("[format('{0}-{1}', 'a', 2)]").unwrap(), json!("a-2"));
        assert_eq!(eval("[[literal]").unwrap(), json!("[literal]"));
        assert_eq!(eval("plain").unwrap(), json!("plain"));
        assert_eq!(eval("[concat('it''s')]").unwrap(), json!("it's"));
        assert_eq!(eval("[bogus()]").unwrap_err().code, "InvalidTemplate");
        assert_eq!(eval("[parameters('nope')]").unwrap_err().code, "InvalidTemplate");
        assert!(eval("[concat('a']").is_err());
        assert!(eval(&format!("[{}1{}]", "concat(".repeat(100), ")".repeat(100))).is_err());
    }
}
