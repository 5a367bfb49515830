//! OPTIONS answers: DRF's `SimpleMetadata` for each route, byte for byte.
//!
//! `renders` keeps `text/html` and `parses` keeps the three parsers because
//! that is what the original answered; clients reading them see no change.
//! `actions` lists the serializer's fields for the write methods of the
//! route: POST on the list, PUT on an item; DRF leaves it out for an item
//! that does not exist (its `get_object()` raised 404).

use super::route::{Pk, Resource};

macro_rules! common {
    () => {
        r#""renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]"#
    };
}

macro_rules! fields {
    () => {
        r#"{"id":{"type":"integer","required":false,"read_only":true,"label":"ID"},"song":{"type":"string","required":true,"read_only":false,"label":"Song"},"singer":{"type":"string","required":true,"read_only":false,"label":"Singer"},"last_modify_date":{"type":"datetime","required":false,"read_only":true,"label":"Last modify date"},"created":{"type":"datetime","required":false,"read_only":true,"label":"Created"},"days_since_created":{"type":"field","required":false,"read_only":true,"label":"Days since created"}}"#
    };
}

pub const ROOT: &str = concat!(
    r#"{"name":"Api Root","description":"The default basic root view for DefaultRouter","#,
    common!(),
    "}"
);

pub const LIST: &str = concat!(
    r#"{"name":"Music List","description":"","#,
    common!(),
    r#","actions":{"POST":"#,
    fields!(),
    "}}"
);

pub const ITEM: &str = concat!(
    r#"{"name":"Music Instance","description":"","#,
    common!(),
    r#","actions":{"PUT":"#,
    fields!(),
    "}}"
);

/// An item id that matches no row: no `actions`.
pub const ITEM_MISSING: &str = concat!(
    r#"{"name":"Music Instance","description":"","#,
    common!(),
    "}"
);

pub const DETAIL: &str = concat!(
    r#"{"name":"Detail action","description":"","#,
    common!(),
    "}"
);

pub const ALL_SINGER: &str = concat!(r#"{"name":"All singer","description":"","#, common!(), "}");

/// Whether answering OPTIONS on `resource` needs to know if the item
/// exists (a database lookup).
pub fn needs_item_lookup(resource: &Resource) -> Option<i64> {
    match *resource {
        Resource::Item(Pk::Id(id)) => Some(id),
        _ => None,
    }
}

/// The OPTIONS body for `resource`; `item_exists` matters only for an item
/// (ignored elsewhere; an invalid id never exists).
pub fn body(resource: &Resource, item_exists: bool) -> &'static str {
    match *resource {
        Resource::Root => ROOT,
        Resource::List => LIST,
        Resource::Item(Pk::Id(_)) if item_exists => ITEM,
        Resource::Item(_) => ITEM_MISSING,
        Resource::ItemDetail(_) => DETAIL,
        Resource::AllSingers => ALL_SINGER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &str = r#"{"id":{"type":"integer","required":false,"read_only":true,"label":"ID"},"song":{"type":"string","required":true,"read_only":false,"label":"Song"},"singer":{"type":"string","required":true,"read_only":false,"label":"Singer"},"last_modify_date":{"type":"datetime","required":false,"read_only":true,"label":"Last modify date"},"created":{"type":"datetime","required":false,"read_only":true,"label":"Created"},"days_since_created":{"type":"field","required":false,"read_only":true,"label":"Days since created"}}"#;

    #[test]
    fn recorded_answers() {
        // Recorded from the original stack (spec §9).
        assert_eq!(
            body(&Resource::Root, false),
            r#"{"name":"Api Root","description":"The default basic root view for DefaultRouter","renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]}"#
        );
        assert_eq!(
            body(&Resource::List, false),
            format!(
                r#"{{"name":"Music List","description":"","renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"],"actions":{{"POST":{FIELDS}}}}}"#
            )
        );
        assert_eq!(
            body(&Resource::Item(Pk::Id(1)), true),
            format!(
                r#"{{"name":"Music Instance","description":"","renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"],"actions":{{"PUT":{FIELDS}}}}}"#
            )
        );
        assert_eq!(
            body(&Resource::ItemDetail(Pk::Id(1)), true),
            r#"{"name":"Detail action","description":"","renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]}"#
        );
        assert_eq!(
            body(&Resource::AllSingers, false),
            r#"{"name":"All singer","description":"","renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]}"#
        );
    }

    #[test]
    fn missing_or_invalid_item_has_no_actions() {
        let expected = r#"{"name":"Music Instance","description":"","renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]}"#;
        assert_eq!(body(&Resource::Item(Pk::Id(999)), false), expected);
        assert_eq!(body(&Resource::Item(Pk::Invalid), true), expected);
        assert_eq!(body(&Resource::ItemDetail(Pk::Invalid), false), DETAIL);
    }

    #[test]
    fn lookup_only_for_valid_item_ids() {
        assert_eq!(needs_item_lookup(&Resource::Item(Pk::Id(5))), Some(5));
        assert_eq!(needs_item_lookup(&Resource::Item(Pk::Invalid)), None);
        assert_eq!(needs_item_lookup(&Resource::ItemDetail(Pk::Id(5))), None);
        assert_eq!(needs_item_lookup(&Resource::List), None);
    }

    #[test]
    fn all_bodies_are_valid_json() {
        for body in [ROOT, LIST, ITEM, ITEM_MISSING, DETAIL, ALL_SINGER] {
            serde_json::from_str::<serde_json::Value>(body).expect(body);
        }
    }
}
