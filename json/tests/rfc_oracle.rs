//! Differential test: on paths where RedisJSON 2.8 and RFC 9535 agree, our evaluator must
//! select the same values as serde_json_path (the RFC 9535 reference implementation here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engram_json::{Document, Path};
use serde_json_path::JsonPath;

const DOC: &str = r#"{"store":{"book":[
 {"category":"reference","author":"Nigel Rees","title":"Sayings","price":8.95},
 {"category":"fiction","author":"Evelyn Waugh","title":"Sword","price":12.99},
 {"category":"fiction","author":"Herman Melville","title":"Moby Dick","isbn":"0-553","price":8.99},
 {"category":"fiction","author":"J. R. R. Tolkien","title":"LOTR","isbn":"0-395","price":22.99}],
 "bicycle":{"color":"red","price":19.95}},"n":[0,1,2,3,4,5,6,7,8,9],"e":[],"o":{}}"#;

#[test]
fn agrees_with_rfc9535_where_dialects_agree() {
    let doc = Document::parse(DOC).unwrap();
    let value: serde_json::Value = serde_json::from_str(DOC).unwrap();
    let paths = [
        "$",
        "$.store",
        "$.store.book[0].title",
        "$.store.book[*].author",
        "$..author",
        "$.store.*",
        "$.store..price",
        "$..book[2]",
        "$..book[-1]",
        "$..book[0,1]",
        "$..book[:2]",
        "$..book[1:3]",
        "$.n[::3]",
        "$.n[2:8:2]",
        "$.n[-3:]",
        "$.n[:-7]",
        "$.n[100:]",
        "$..book[?(@.isbn)]",
        "$..book[?(@.price<10)].title",
        "$..book[?@.price>=12.99].title",
        "$..book[?(@.category=='fiction' && @.price<20)].title",
        "$..book[?(@.price<9 || @.price>20)].title",
        "$..*",
        "$.e[*]",
        "$.o.*",
        "$..[0]",
        "$['store']['bicycle']",
        "$.store['bicycle','book'][0]",
        "$.n[0,0,9]",
        "$..book[?(@.price>$.store.bicycle.price)].title",
        "$.n[?(@>=7)]",
        "$.n[?(@==3)]",
    ];
    for p in paths {
        let ours = doc.query(&Path::parse(p).unwrap());
        let rfc: Vec<String> = JsonPath::parse(p)
            .unwrap()
            .query(&value)
            .all()
            .into_iter()
            .map(|v| Document::from_value(v.clone()).to_json(&Default::default()))
            .collect();
        assert_eq!(ours, rfc, "path {p}");
    }
}
