//! How result fields are named in traits and properties (the form's `naming` select):
//! `view.field` as RudderStack's hosted hub sends them, the field name alone, or the field's
//! label in snake_case. Names that would collide keep their `view.field` name, and the answer
//! says which.

use crate::rows::FieldMeta;

/// Form field holding the naming mode.
pub const FIELD: &str = "naming";

/// A naming mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// `users.plan_name` (the default; what the hosted hub sends).
    #[default]
    ViewField,
    /// `plan_name`.
    Field,
    /// The label `Users Plan Name` → `users_plan_name`.
    Label,
}

impl Naming {
    /// Every mode: (form value, label a business user reads).
    pub const OPTIONS: [(Naming, &'static str, &'static str); 3] = [
        (
            Naming::ViewField,
            "view.field",
            "View and field (users.plan_name), as RudderStack's hosted hub",
        ),
        (Naming::Field, "field", "Field only (plan_name)"),
        (
            Naming::Label,
            "label",
            "Field label in snake_case (users_plan_name)",
        ),
    ];

    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            Naming::ViewField => "view.field",
            Naming::Field => "field",
            Naming::Label => "label",
        }
    }

    /// A form value (absent or empty: the default); `None` for an unknown one.
    pub fn parse(value: Option<&str>) -> Option<Naming> {
        match value.map(str::trim).unwrap_or("") {
            "" => Some(Naming::ViewField),
            v => Naming::OPTIONS
                .iter()
                .find(|(_, name, _)| *name == v)
                .map(|(n, _, _)| *n),
        }
    }

    /// The key of each field in the traits / properties. `reserved` are keys taken already (the
    /// `email` trait). Fields whose names would collide keep `view.field`; the note says which.
    pub fn keys(self, fields: &[&FieldMeta], reserved: &[&str]) -> (Vec<String>, Option<String>) {
        let wanted: Vec<String> = fields.iter().map(|f| self.key(f)).collect();
        // How often each wanted key occurs (one pass: a result may list thousands of fields).
        let mut uses: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for w in &wanted {
            *uses.entry(w.as_str()).or_default() += 1;
        }
        let mut kept = Vec::new();
        let keys = wanted
            .iter()
            .zip(fields)
            .map(|(w, f)| {
                let clash = self != Naming::ViewField
                    && (reserved.contains(&w.as_str())
                        || uses.get(w.as_str()).is_some_and(|n| *n > 1));
                if clash {
                    kept.push(f.name.as_str());
                    f.name.clone()
                } else {
                    w.clone()
                }
            })
            .collect();
        let note = (!kept.is_empty()).then(|| {
            const SHOWN: usize = 5;
            let mut list = kept[..kept.len().min(SHOWN)].join(", ");
            if kept.len() > SHOWN {
                list.push_str(&format!(" and {} more", kept.len() - SHOWN));
            }
            let their = if kept.len() == 1 { "its" } else { "their" };
            format!(
                "{} kept {their} view.field name because {their} {} name would collide: {list}",
                super::counts::plural(kept.len() as u64, "field", "fields"),
                self.as_str()
            )
        });
        (keys, note)
    }

    fn key(self, f: &FieldMeta) -> String {
        let short = || {
            f.name
                .split_once('.')
                .map_or(f.name.as_str(), |(_, field)| field)
                .to_string()
        };
        match self {
            Naming::ViewField => f.name.clone(),
            Naming::Field => short(),
            Naming::Label => f
                .label
                .as_deref()
                .map(snake_case)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| snake_case(&short())),
        }
    }
}

/// `Users Plan Name (EU)` → `users_plan_name_eu`: lower case, every run of other characters one `_`.
pub fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, label: Option<&str>) -> FieldMeta {
        serde_json::from_value(serde_json::json!({"name": name, "label": label})).unwrap()
    }

    #[test]
    fn modes_collisions_and_labels() {
        let f = [
            field("users.plan", Some("Users Plan Name")),
            field("users.created", Some("Users Created Date")),
            field("orders.created", Some("Orders Created Date")),
            field("orders.email", Some("Orders E-mail")),
            field("calc", None),
        ];
        let refs: Vec<&FieldMeta> = f.iter().collect();
        let (keys, note) = Naming::ViewField.keys(&refs, &["email"]);
        assert_eq!(
            keys,
            [
                "users.plan",
                "users.created",
                "orders.created",
                "orders.email",
                "calc"
            ]
        );
        assert_eq!(note, None);
        let (keys, note) = Naming::Field.keys(&refs, &["email"]);
        assert_eq!(
            keys,
            [
                "plan",
                "users.created",
                "orders.created",
                "orders.email",
                "calc"
            ]
        );
        assert_eq!(
            note.unwrap(),
            "3 fields kept their view.field name because their field name would collide: users.created, orders.created, orders.email"
        );
        let (keys, note) = Naming::Label.keys(&refs, &["email"]);
        assert_eq!(
            keys,
            [
                "users_plan_name",
                "users_created_date",
                "orders_created_date",
                "orders_e_mail",
                "calc"
            ]
        );
        assert_eq!(note, None);
        assert_eq!(snake_case("  Café Größe (€) "), "café_größe");
        assert_eq!(Naming::parse(None), Some(Naming::ViewField));
        assert_eq!(Naming::parse(Some("label")), Some(Naming::Label));
        assert_eq!(Naming::parse(Some("LABEL")), None);
    }

    #[test]
    fn one_kept_field_is_told_in_the_singular() {
        let f = [field("users.plan", None), field("orders.email", None)];
        let refs: Vec<&FieldMeta> = f.iter().collect();
        let (keys, note) = Naming::Field.keys(&refs, &["email"]);
        assert_eq!(keys, ["plan", "orders.email"]);
        assert_eq!(
            note.unwrap(),
            "1 field kept its view.field name because its field name would collide: orders.email"
        );
    }
}
