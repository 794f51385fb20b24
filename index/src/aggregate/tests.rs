//! Differential tests: every expected reply below was recorded from the reference (Redis 7.4 +
//! RediSearch 2.10) over the same six documents, created with
//!
//! ```text
//! HSET p:1 name "apple iphone" brand apple price 999 stock 10 cat phone ts 1700000000 rating 4.5
//! HSET p:2 name "samsung galaxy" brand samsung price 799 stock 0 cat phone ts 1700086400 rating 4.2
//! HSET p:3 name "apple macbook" brand apple price 1999 stock 5 cat laptop ts 1690000000 rating 4.8
//! HSET p:4 name "dell xps" brand dell price 1499 stock 3 cat laptop ts 1680000000 rating 4.1
//! HSET p:5 name "apple watch" brand apple price 399 stock 20 cat watch ts 1710000000
//! HSET p:6 name "pixel phone" brand google price 699.5 cat phone ts 1705000000 rating 3.9
//! FT.CREATE idx ON HASH PREFIX 1 p: SCHEMA name TEXT SORTABLE brand TAG SORTABLE
//!     price NUMERIC SORTABLE stock NUMERIC cat TAG ts NUMERIC rating NUMERIC
//! ```
//!
//! The reference returned the documents in the order p:3 p:4 p:1 p:5 p:2 p:6, which the
//! harness reproduces. Rows of a GROUPBY without a later SORTBY are compared as a set (the
//! reference's group order is hash order), and list cells are compared sorted (TOLIST order
//! is hash order too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const DOCS: &[(&str, &[(&str, &str)])] = &[
    (
        "p:3",
        &[
            ("name", "apple macbook"),
            ("brand", "apple"),
            ("price", "1999"),
            ("stock", "5"),
            ("cat", "laptop"),
            ("ts", "1690000000"),
            ("rating", "4.8"),
        ],
    ),
    (
        "p:4",
        &[
            ("name", "dell xps"),
            ("brand", "dell"),
            ("price", "1499"),
            ("stock", "3"),
            ("cat", "laptop"),
            ("ts", "1680000000"),
            ("rating", "4.1"),
        ],
    ),
    (
        "p:1",
        &[
            ("name", "apple iphone"),
            ("brand", "apple"),
            ("price", "999"),
            ("stock", "10"),
            ("cat", "phone"),
            ("ts", "1700000000"),
            ("rating", "4.5"),
        ],
    ),
    (
        "p:5",
        &[
            ("name", "apple watch"),
            ("brand", "apple"),
            ("price", "399"),
            ("stock", "20"),
            ("cat", "watch"),
            ("ts", "1710000000"),
        ],
    ),
    (
        "p:2",
        &[
            ("name", "samsung galaxy"),
            ("brand", "samsung"),
            ("price", "799"),
            ("stock", "0"),
            ("cat", "phone"),
            ("ts", "1700086400"),
            ("rating", "4.2"),
        ],
    ),
    (
        "p:6",
        &[
            ("name", "pixel phone"),
            ("brand", "google"),
            ("price", "699.5"),
            ("cat", "phone"),
            ("ts", "1705000000"),
            ("rating", "3.9"),
        ],
    ),
];

fn schema(name: &str) -> SchemaField {
    match name {
        "name" | "brand" | "price" => SchemaField::Sortable,
        "stock" | "cat" | "ts" | "rating" => SchemaField::Indexed,
        _ => SchemaField::Unknown,
    }
}

/// A document field as the server would put it in a row: NUMERIC schema fields as numbers.
fn cell(name: &str, text: &str) -> Value {
    match name {
        "price" | "stock" | "ts" | "rating" => Value::Num(text.parse().unwrap()),
        _ => Value::Str(text.to_owned()),
    }
}

fn initial_rows(plan: &Plan, query: &str) -> Vec<Row> {
    let needed = plan.fields_needed();
    let brand = query.strip_prefix("@brand:{").and_then(|q| q.strip_suffix('}'));
    DOCS.iter()
        .filter(|(_, fields)| brand.is_none_or(|b| fields.contains(&("brand", b))))
        .map(|(key, fields)| {
            let mut row = Row::new();
            row.set("__key", Value::Str((*key).to_owned()));
            if needed.all {
                for (name, text) in fields.iter() {
                    row.set(*name, cell(name, text));
                }
            }
            for load in &needed.fields {
                if let Some((_, text)) = fields.iter().find(|(name, _)| *name == load.source) {
                    row.set(load.name.clone(), cell(&load.source, text));
                }
            }
            row
        })
        .collect()
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(nil)".to_owned(),
        Value::List(items) => {
            let mut texts: Vec<String> = items.iter().map(show).collect();
            texts.sort();
            format!("[{}]", texts.join("|"))
        }
        other => other.format().unwrap(),
    }
}

type Reply = (usize, Vec<Vec<String>>);

fn run(query: &str, args: &[&str]) -> Result<Reply, String> {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let plan = parse(&argv)?;
    plan.check_fields(&schema)?;
    let out = execute(&plan, initial_rows(&plan, query))?;
    let rows = out
        .rows
        .iter()
        .map(|row| row.fields().iter().flat_map(|(n, v)| [n.clone(), show(v)]).collect())
        .collect();
    Ok((out.total, rows))
}

struct Case {
    query: &'static str,
    args: &'static [&'static str],
    expect: Result<(usize, &'static [&'static [&'static str]]), &'static str>,
}

const CASES: &[Case] = &[
    Case { query: "*", args: &[], expect: Ok((1, &[&[], &[], &[], &[], &[], &[]])) },
    Case { query: "*", args: &["LOAD", "2", "@name", "@price"], expect: Ok((1, &[&["name", "apple macbook", "price", "1999"], &["name", "dell xps", "price", "1499"], &["name", "apple iphone", "price", "999"], &["name", "apple watch", "price", "399"], &["name", "samsung galaxy", "price", "799"], &["name", "pixel phone", "price", "699.5"]])) },
    Case { query: "*", args: &["LOAD", "3", "@name", "AS", "n"], expect: Ok((1, &[&["n", "apple macbook"], &["n", "dell xps"], &["n", "apple iphone"], &["n", "apple watch"], &["n", "samsung galaxy"], &["n", "pixel phone"]])) },
    Case { query: "*", args: &["LOAD", "4", "@name", "AS", "n", "@price"], expect: Ok((1, &[&["n", "apple macbook", "price", "1999"], &["n", "dell xps", "price", "1499"], &["n", "apple iphone", "price", "999"], &["n", "apple watch", "price", "399"], &["n", "samsung galaxy", "price", "799"], &["n", "pixel phone", "price", "699.5"]])) },
    Case { query: "*", args: &["LOAD", "1", "@nofield"], expect: Ok((1, &[&[], &[], &[], &[], &[], &[]])) },
    Case { query: "*", args: &["LOAD", "1", "@__key"], expect: Ok((1, &[&["__key", "p:3"], &["__key", "p:4"], &["__key", "p:1"], &["__key", "p:5"], &["__key", "p:2"], &["__key", "p:6"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating"], expect: Ok((1, &[&["rating", "4.8"], &["rating", "4.1"], &["rating", "4.5"], &[], &["rating", "4.2"], &["rating", "3.9"]])) },
    Case { query: "*", args: &["LOAD", "*"], expect: Ok((1, &[&["name", "apple macbook", "brand", "apple", "price", "1999", "stock", "5", "cat", "laptop", "ts", "1690000000", "rating", "4.8"], &["name", "dell xps", "brand", "dell", "price", "1499", "stock", "3", "cat", "laptop", "ts", "1680000000", "rating", "4.1"], &["name", "apple iphone", "brand", "apple", "price", "999", "stock", "10", "cat", "phone", "ts", "1700000000", "rating", "4.5"], &["name", "apple watch", "brand", "apple", "price", "399", "stock", "20", "cat", "watch", "ts", "1710000000"], &["name", "samsung galaxy", "brand", "samsung", "price", "799", "stock", "0", "cat", "phone", "ts", "1700086400", "rating", "4.2"], &["name", "pixel phone", "brand", "google", "price", "699.5", "cat", "phone", "ts", "1705000000", "rating", "3.9"]])) },
    Case { query: "*", args: &["LOAD", "*", "APPLY", "@stock+1", "AS", "s"], expect: Ok((1, &[&["stock", "5", "s", "6", "name", "apple macbook", "brand", "apple", "price", "1999", "cat", "laptop", "ts", "1690000000", "rating", "4.8"], &["stock", "3", "s", "4", "name", "dell xps", "brand", "dell", "price", "1499", "cat", "laptop", "ts", "1680000000", "rating", "4.1"], &["stock", "10", "s", "11", "name", "apple iphone", "brand", "apple", "price", "999", "cat", "phone", "ts", "1700000000", "rating", "4.5"], &["stock", "20", "s", "21", "name", "apple watch", "brand", "apple", "price", "399", "cat", "watch", "ts", "1710000000"], &["stock", "0", "s", "1", "name", "samsung galaxy", "brand", "samsung", "price", "799", "cat", "phone", "ts", "1700086400", "rating", "4.2"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@cat", "REDUCE", "COUNT", "0", "AS", "n"], expect: Ok((3, &[&["cat", "laptop", "n", "2"], &["cat", "watch", "n", "1"], &["cat", "phone", "n", "3"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@cat", "REDUCE", "COUNT", "0", "AS", "n", "SORTBY", "2", "@n", "DESC"], expect: Ok((3, &[&["cat", "phone", "n", "3"], &["cat", "laptop", "n", "2"], &["cat", "watch", "n", "1"]])) },
    Case { query: "*", args: &["GROUPBY", "0", "REDUCE", "COUNT", "0", "AS", "n"], expect: Ok((1, &[&["n", "6"]])) },
    Case { query: "*", args: &["GROUPBY", "2", "@brand", "@cat", "SORTBY", "2", "@brand", "@cat"], expect: Ok((6, &[&["brand", "apple", "cat", "laptop"], &["brand", "apple", "cat", "phone"], &["brand", "apple", "cat", "watch"], &["brand", "dell", "cat", "laptop"], &["brand", "google", "cat", "phone"], &["brand", "samsung", "cat", "phone"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "GROUPBY", "1", "@rating", "SORTBY", "1", "@rating"], expect: Ok((6, &[&["rating", "(nil)"], &["rating", "3.9"], &["rating", "4.1"], &["rating", "4.2"], &["rating", "4.5"], &["rating", "4.8"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "GROUPBY", "1", "@brand", "REDUCE", "COUNT", "0", "REDUCE", "COUNT_DISTINCT", "1", "@cat", "REDUCE", "COUNT_DISTINCTISH", "1", "@cat", "REDUCE", "SUM", "1", "@price", "REDUCE", "MIN", "1", "@price", "REDUCE", "MAX", "1", "@price", "REDUCE", "AVG", "1", "@price", "REDUCE", "STDDEV", "1", "@price", "REDUCE", "QUANTILE", "2", "@price", "0.5", "REDUCE", "TOLIST", "1", "@cat", "REDUCE", "FIRST_VALUE", "1", "@name", "REDUCE", "FIRST_VALUE", "3", "@name", "BY", "@price", "REDUCE", "FIRST_VALUE", "4", "@name", "BY", "@price", "DESC", "SORTBY", "1", "@brand"], expect: Ok((4, &[&["brand", "apple", "__generated_aliascount", "3", "__generated_aliascount_distinctcat", "3", "__generated_aliascount_distinctishcat", "3", "__generated_aliassumprice", "3397", "__generated_aliasminprice", "399", "__generated_aliasmaxprice", "1999", "__generated_aliasavgprice", "1132.33333333", "__generated_aliasstddevprice", "808.290376865", "__generated_aliasquantileprice,0.5", "999", "__generated_aliastolistcat", "[phone|laptop|watch]", "__generated_aliasfirst_valuename", "apple macbook", "__generated_aliasfirst_valuename,by,price", "apple watch", "__generated_aliasfirst_valuename,by,price,desc", "apple macbook"], &["brand", "dell", "__generated_aliascount", "1", "__generated_aliascount_distinctcat", "1", "__generated_aliascount_distinctishcat", "1", "__generated_aliassumprice", "1499", "__generated_aliasminprice", "1499", "__generated_aliasmaxprice", "1499", "__generated_aliasavgprice", "1499", "__generated_aliasstddevprice", "0", "__generated_aliasquantileprice,0.5", "1499", "__generated_aliastolistcat", "[laptop]", "__generated_aliasfirst_valuename", "dell xps", "__generated_aliasfirst_valuename,by,price", "dell xps", "__generated_aliasfirst_valuename,by,price,desc", "dell xps"], &["brand", "google", "__generated_aliascount", "1", "__generated_aliascount_distinctcat", "1", "__generated_aliascount_distinctishcat", "1", "__generated_aliassumprice", "699.5", "__generated_aliasminprice", "699.5", "__generated_aliasmaxprice", "699.5", "__generated_aliasavgprice", "699.5", "__generated_aliasstddevprice", "0", "__generated_aliasquantileprice,0.5", "699.5", "__generated_aliastolistcat", "[phone]", "__generated_aliasfirst_valuename", "pixel phone", "__generated_aliasfirst_valuename,by,price", "pixel phone", "__generated_aliasfirst_valuename,by,price,desc", "pixel phone"], &["brand", "samsung", "__generated_aliascount", "1", "__generated_aliascount_distinctcat", "1", "__generated_aliascount_distinctishcat", "1", "__generated_aliassumprice", "799", "__generated_aliasminprice", "799", "__generated_aliasmaxprice", "799", "__generated_aliasavgprice", "799", "__generated_aliasstddevprice", "0", "__generated_aliasquantileprice,0.5", "799", "__generated_aliastolistcat", "[phone]", "__generated_aliasfirst_valuename", "samsung galaxy", "__generated_aliasfirst_valuename,by,price", "samsung galaxy", "__generated_aliasfirst_valuename,by,price,desc", "samsung galaxy"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "GROUPBY", "1", "@brand", "REDUCE", "AVG", "1", "@rating", "AS", "a", "REDUCE", "SUM", "1", "@rating", "AS", "s", "REDUCE", "MIN", "1", "@rating", "AS", "mn", "REDUCE", "STDDEV", "1", "@rating", "AS", "sd", "REDUCE", "TOLIST", "1", "@rating", "AS", "tl", "REDUCE", "QUANTILE", "2", "@rating", "0.5", "AS", "q", "SORTBY", "1", "@brand"], expect: Ok((4, &[&["brand", "apple", "a", "3.1", "s", "9.3", "mn", "4.5", "sd", "0.212132034356", "tl", "[4.8|4.5]", "q", "4.5"], &["brand", "dell", "a", "4.1", "s", "4.1", "mn", "4.1", "sd", "0", "tl", "[4.1]", "q", "4.1"], &["brand", "google", "a", "3.9", "s", "3.9", "mn", "3.9", "sd", "0", "tl", "[3.9]", "q", "3.9"], &["brand", "samsung", "a", "4.2", "s", "4.2", "mn", "4.2", "sd", "0", "tl", "[4.2]", "q", "4.2"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "MIN", "1", "@stock", "AS", "mn", "REDUCE", "MAX", "1", "@stock", "AS", "mx", "REDUCE", "AVG", "1", "@stock", "AS", "a", "REDUCE", "SUM", "1", "@stock", "AS", "s", "REDUCE", "STDDEV", "1", "@stock", "AS", "sd", "REDUCE", "FIRST_VALUE", "3", "@stock", "BY", "@rating", "AS", "fv", "REDUCE", "COUNT_DISTINCT", "1", "@stock", "AS", "cd", "REDUCE", "TOLIST", "1", "@stock", "AS", "tl", "SORTBY", "1", "@brand"], expect: Ok((4, &[&["brand", "apple", "mn", "5", "mx", "20", "a", "11.6666666667", "s", "35", "sd", "7.63762615826", "fv", "20", "cd", "3", "tl", "[20|10|5]"], &["brand", "dell", "mn", "3", "mx", "3", "a", "3", "s", "3", "sd", "0", "fv", "3", "cd", "1", "tl", "[3]"], &["brand", "google", "mn", "0", "mx", "0", "a", "0", "s", "0", "sd", "0", "fv", "(nil)", "cd", "0", "tl", "[]"], &["brand", "samsung", "mn", "0", "mx", "0", "a", "0", "s", "0", "sd", "0", "fv", "0", "cd", "1", "tl", "[0]"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "QUANTILE", "2", "@price", "0", "AS", "q0", "REDUCE", "QUANTILE", "2", "@price", "1", "AS", "q1", "REDUCE", "QUANTILE", "2", "@price", "0.3", "AS", "q3", "REDUCE", "QUANTILE", "2", "@price", "0.7", "AS", "q7", "REDUCE", "QUANTILE", "2", "@price", "0.9", "AS", "q9", "SORTBY", "1", "@brand"], expect: Ok((4, &[&["brand", "apple", "q0", "399", "q1", "1999", "q3", "399", "q7", "1999", "q9", "1999"], &["brand", "dell", "q0", "1499", "q1", "1499", "q3", "1499", "q7", "1499", "q9", "1499"], &["brand", "google", "q0", "699.5", "q1", "699.5", "q3", "699.5", "q7", "699.5", "q9", "699.5"], &["brand", "samsung", "q0", "799", "q1", "799", "q3", "799", "q7", "799", "q9", "799"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "SUM", "1", "@name", "AS", "s", "REDUCE", "MAX", "1", "@name", "AS", "m", "SORTBY", "1", "@brand"], expect: Ok((4, &[&["brand", "apple", "s", "0", "m", "0"], &["brand", "dell", "s", "0", "m", "0"], &["brand", "google", "s", "0", "m", "0"], &["brand", "samsung", "s", "0", "m", "0"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "SUM", "2", "@price", "@price", "SORTBY", "1", "@brand"], expect: Ok((4, &[&["brand", "apple", "__generated_aliassumprice,price", "3397"], &["brand", "dell", "__generated_aliassumprice,price", "1499"], &["brand", "google", "__generated_aliassumprice,price", "699.5"], &["brand", "samsung", "__generated_aliassumprice,price", "799"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT", "0", "AS", "n", "FILTER", "@n>1"], expect: Ok((4, &[&["brand", "apple", "n", "3"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "SUM", "1", "@price", "AS", "total", "APPLY", "@total/2", "AS", "half", "SORTBY", "2", "@half", "DESC", "LIMIT", "0", "2"], expect: Ok((4, &[&["brand", "apple", "total", "3397", "half", "1698.5"], &["brand", "dell", "total", "1499", "half", "749.5"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@cat", "REDUCE", "COUNT", "0", "AS", "n", "GROUPBY", "1", "@n", "REDUCE", "TOLIST", "1", "@cat", "AS", "cats", "SORTBY", "1", "@n"], expect: Ok((3, &[&["n", "1", "cats", "[watch]"], &["n", "2", "cats", "[laptop]"], &["n", "3", "cats", "[phone]"]])) },
    Case { query: "*", args: &["SORTBY", "2", "@price", "DESC"], expect: Ok((6, &[&["price", "1999"], &["price", "1499"], &["price", "999"], &["price", "799"], &["price", "699.5"], &["price", "399"]])) },
    Case { query: "*", args: &["SORTBY", "1", "@price", "MAX", "2"], expect: Ok((6, &[&["price", "399"], &["price", "699.5"]])) },
    Case { query: "*", args: &["SORTBY", "1", "@price", "MAX", "2", "LIMIT", "0", "10"], expect: Ok((6, &[&["price", "399"], &["price", "699.5"], &["price", "799"], &["price", "999"], &["price", "1499"], &["price", "1999"]])) },
    Case { query: "*", args: &["SORTBY", "4", "@cat", "ASC", "@price", "DESC"], expect: Ok((6, &[&["cat", "laptop", "price", "1999"], &["cat", "laptop", "price", "1499"], &["cat", "phone", "price", "999"], &["cat", "phone", "price", "799"], &["cat", "phone", "price", "699.5"], &["cat", "watch", "price", "399"]])) },
    Case { query: "*", args: &["SORTBY", "1", "@stock"], expect: Ok((6, &[&["stock", "0"], &["stock", "3"], &["stock", "5"], &["stock", "10"], &["stock", "20"], &[]])) },
    Case { query: "*", args: &["LOAD", "1", "@stock", "SORTBY", "2", "@stock", "DESC"], expect: Ok((6, &[&["stock", "20"], &["stock", "10"], &["stock", "5"], &["stock", "3"], &["stock", "0"], &[]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "SORTBY", "2", "@rating", "ASC"], expect: Ok((6, &[&["rating", "3.9"], &["rating", "4.1"], &["rating", "4.2"], &["rating", "4.5"], &["rating", "4.8"], &[]])) },
    Case { query: "*", args: &["SORTBY", "1", "@name", "LIMIT", "2", "2"], expect: Ok((6, &[&["name", "apple watch"], &["name", "dell xps"]])) },
    Case { query: "*", args: &["LIMIT", "0", "2", "SORTBY", "2", "@price", "DESC"], expect: Ok((6, &[&["price", "1999"], &["price", "1499"]])) },
    Case { query: "*", args: &["SORTBY", "1", "@price", "FILTER", "@price>800"], expect: Ok((6, &[&["price", "999"], &["price", "1499"], &["price", "1999"]])) },
    Case { query: "*", args: &["FILTER", "@price>800", "SORTBY", "1", "@price"], expect: Ok((6, &[&["price", "999"], &["price", "1499"], &["price", "1999"]])) },
    Case { query: "*", args: &["FILTER", "@price>800"], expect: Ok((1, &[&["price", "1999"], &["price", "1499"], &["price", "999"]])) },
    Case { query: "*", args: &["FILTER", "@price>800", "FILTER", "@price<1500"], expect: Ok((2, &[&["price", "1499"], &["price", "999"]])) },
    Case { query: "*", args: &["FILTER", "@price>99999"], expect: Ok((6, &[])) },
    Case { query: "*", args: &["LIMIT", "2", "2"], expect: Ok((3, &[&[], &[]])) },
    Case { query: "*", args: &["LIMIT", "0", "0"], expect: Ok((6, &[])) },
    Case { query: "*", args: &["LIMIT", "0", "2", "LIMIT", "0", "3"], expect: Ok((1, &[&[], &[], &[]])) },
    Case { query: "*", args: &["LOAD", "1", "@name", "APPLY", "upper(@name)", "AS", "u", "APPLY", "strlen(@name)", "AS", "l", "SORTBY", "1", "@name"], expect: Ok((6, &[&["name", "apple iphone", "u", "APPLE IPHONE", "l", "12"], &["name", "apple macbook", "u", "APPLE MACBOOK", "l", "13"], &["name", "apple watch", "u", "APPLE WATCH", "l", "11"], &["name", "dell xps", "u", "DELL XPS", "l", "8"], &["name", "pixel phone", "u", "PIXEL PHONE", "l", "11"], &["name", "samsung galaxy", "u", "SAMSUNG GALAXY", "l", "14"]])) },
    Case { query: "*", args: &["LOAD", "2", "@name", "@rating", "APPLY", "@rating+1", "AS", "x"], expect: Ok((1, &[&["name", "apple macbook", "rating", "4.8", "x", "5.8"], &["name", "dell xps", "rating", "4.1", "x", "5.1"], &["name", "apple iphone", "rating", "4.5", "x", "5.5"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "APPLY", "exists(@rating)", "AS", "x"], expect: Ok((1, &[&["rating", "4.8", "x", "1"], &["rating", "4.1", "x", "1"], &["rating", "4.5", "x", "1"], &["x", "0"], &["rating", "4.2", "x", "1"], &["rating", "3.9", "x", "1"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "FILTER", "@rating"], expect: Ok((1, &[&["rating", "4.8"], &["rating", "4.1"], &["rating", "4.5"]])) },
    Case { query: "*", args: &["APPLY", "@price/3", "AS", "x", "SORTBY", "1", "@price"], expect: Ok((6, &[&["price", "399", "x", "133"], &["price", "699.5", "x", "233.166666667"], &["price", "799", "x", "266.333333333"], &["price", "999", "x", "333"], &["price", "1499", "x", "499.666666667"], &["price", "1999", "x", "666.333333333"]])) },
    Case { query: "*", args: &["APPLY", "log(@price)", "AS", "x", "APPLY", "sqrt(@price)", "AS", "y", "APPLY", "@price%7", "AS", "z", "APPLY", "@price^2", "AS", "w", "SORTBY", "1", "@price"], expect: Ok((6, &[&["price", "399", "x", "5.98896141689", "y", "19.9749843554", "z", "0", "w", "159201"], &["price", "699.5", "x", "6.55036579411", "y", "26.4480623109", "z", "6", "w", "489300.25"], &["price", "799", "x", "6.68336094577", "y", "28.2665880502", "z", "1", "w", "638401"], &["price", "999", "x", "6.90675477865", "y", "31.6069612586", "z", "5", "w", "998001"], &["price", "1499", "x", "7.3125534981", "y", "38.7169213652", "z", "1", "w", "2247001"], &["price", "1999", "x", "7.6004023345", "y", "44.7101778122", "z", "4", "w", "3996001"]])) },
    Case { query: "*", args: &["LOAD", "2", "@ts", "@name", "APPLY", "timefmt(@ts)", "AS", "t", "APPLY", "year(@ts)", "AS", "y", "APPLY", "monthofyear(@ts)", "AS", "m", "APPLY", "dayofyear(@ts)", "AS", "dy", "APPLY", "dayofweek(@ts)", "AS", "dw", "APPLY", "dayofmonth(@ts)", "AS", "dm", "APPLY", "day(@ts)", "AS", "d", "APPLY", "hour(@ts)", "AS", "h", "APPLY", "minute(@ts)", "AS", "mi", "APPLY", "month(@ts)", "AS", "mo", "SORTBY", "1", "@name"], expect: Ok((6, &[&["ts", "1700000000", "name", "apple iphone", "t", "2023-11-14T22:13:20Z", "y", "2023", "m", "10", "dy", "317", "dw", "2", "dm", "14", "d", "1699920000", "h", "1699999200", "mi", "1699999980", "mo", "1698796800"], &["ts", "1690000000", "name", "apple macbook", "t", "2023-07-22T04:26:40Z", "y", "2023", "m", "6", "dy", "202", "dw", "6", "dm", "22", "d", "1689984000", "h", "1689998400", "mi", "1689999960", "mo", "1688169600"], &["ts", "1710000000", "name", "apple watch", "t", "2024-03-09T16:00:00Z", "y", "2024", "m", "2", "dy", "68", "dw", "6", "dm", "9", "d", "1709942400", "h", "1710000000", "mi", "1710000000", "mo", "1709251200"], &["ts", "1680000000", "name", "dell xps", "t", "2023-03-28T10:40:00Z", "y", "2023", "m", "2", "dy", "86", "dw", "2", "dm", "28", "d", "1679961600", "h", "1679997600", "mi", "1680000000", "mo", "1677628800"], &["ts", "1705000000", "name", "pixel phone", "t", "2024-01-11T19:06:40Z", "y", "2024", "m", "0", "dy", "10", "dw", "4", "dm", "11", "d", "1704931200", "h", "1704999600", "mi", "1704999960", "mo", "1704067200"], &["ts", "1700086400", "name", "samsung galaxy", "t", "2023-11-15T22:13:20Z", "y", "2023", "m", "10", "dy", "318", "dw", "3", "dm", "15", "d", "1700006400", "h", "1700085600", "mi", "1700086380", "mo", "1698796800"]])) },
    Case { query: "*", args: &["LOAD", "1", "@ts", "APPLY", "timefmt(@ts, \"%Y/%m/%d %H:%M:%S %a %b %j\")", "AS", "t", "SORTBY", "1", "@ts"], expect: Ok((6, &[&["ts", "1680000000", "t", "2023/03/28 10:40:00 Tue Mar 087"], &["ts", "1690000000", "t", "2023/07/22 04:26:40 Sat Jul 203"], &["ts", "1700000000", "t", "2023/11/14 22:13:20 Tue Nov 318"], &["ts", "1700086400", "t", "2023/11/15 22:13:20 Wed Nov 319"], &["ts", "1705000000", "t", "2024/01/11 19:06:40 Thu Jan 011"], &["ts", "1710000000", "t", "2024/03/09 16:00:00 Sat Mar 069"]])) },
    Case { query: "*", args: &["LOAD", "1", "@name", "APPLY", "format(\"%s costs %s%%\", @name, @price)", "AS", "f", "APPLY", "substr(@name, 2, -1)", "AS", "s", "APPLY", "split(@name, \" \")", "AS", "parts", "APPLY", "contains(@name, \"p\")", "AS", "c", "APPLY", "startswith(@name, \"apple\")", "AS", "sw", "SORTBY", "1", "@name"], expect: Ok((6, &[&["name", "apple iphone", "price", "999", "f", "apple iphone costs 999%", "s", "ple iphon", "parts", "[apple|iphone]", "c", "3", "sw", "1"], &["name", "apple macbook", "price", "1999", "f", "apple macbook costs 1999%", "s", "ple macboo", "parts", "[apple|macbook]", "c", "2", "sw", "1"], &["name", "apple watch", "price", "399", "f", "apple watch costs 399%", "s", "ple watc", "parts", "[apple|watch]", "c", "2", "sw", "1"], &["name", "dell xps", "price", "1499", "f", "dell xps costs 1499%", "s", "ll xp", "parts", "[dell|xps]", "c", "1", "sw", "0"], &["name", "pixel phone", "price", "699.5", "f", "pixel phone costs 699.5%", "s", "xel phon", "parts", "[pixel|phone]", "c", "2", "sw", "0"], &["name", "samsung galaxy", "price", "799", "f", "samsung galaxy costs 799%", "s", "msung galax", "parts", "[samsung|galaxy]", "c", "0", "sw", "0"]])) },
    Case { query: "*", args: &["LOAD", "1", "@brand", "APPLY", "@brand==\"apple\" && @price>500", "AS", "x", "SORTBY", "1", "@price"], expect: Ok((6, &[&["brand", "apple", "price", "399", "x", "0"], &["brand", "google", "price", "699.5", "x", "0"], &["brand", "samsung", "price", "799", "x", "0"], &["brand", "apple", "price", "999", "x", "1"], &["brand", "dell", "price", "1499", "x", "0"], &["brand", "apple", "price", "1999", "x", "1"]])) },
    Case { query: "*", args: &["FILTER", "@brand==\"apple\" || @price<700", "SORTBY", "1", "@price"], expect: Ok((6, &[&["brand", "apple", "price", "399"], &["brand", "google", "price", "699.5"], &["brand", "apple", "price", "999"], &["brand", "apple", "price", "1999"]])) },
    Case { query: "*", args: &["APPLY", "1", "AS", "one", "GROUPBY", "1", "@one", "REDUCE", "SUM", "1", "@price", "AS", "s"], expect: Ok((1, &[&["one", "1", "s", "6394.5"]])) },
    Case { query: "*", args: &["APPLY", "1+1"], expect: Ok((1, &[&["1+1", "2"], &["1+1", "2"], &["1+1", "2"], &["1+1", "2"], &["1+1", "2"], &["1+1", "2"]])) },
    Case { query: "@brand:{dell}", args: &["APPLY", "1/3", "AS", "a", "APPLY", "1e20", "AS", "b", "APPLY", "123456789012345678", "AS", "c", "APPLY", "2^0.5", "AS", "d", "APPLY", "1/0", "AS", "e", "APPLY", "log(0)", "AS", "f", "APPLY", "sqrt(-1)", "AS", "g", "APPLY", "-7%3", "AS", "h", "APPLY", "\"3\"+1", "AS", "i", "APPLY", "2^63", "AS", "j", "APPLY", "-2^63", "AS", "k", "APPLY", "1234567890123.5", "AS", "l", "APPLY", "1e-5", "AS", "m", "APPLY", "NULL", "AS", "n", "APPLY", "upper(12.5)", "AS", "o", "APPLY", "\"10\">\"9\"", "AS", "p", "APPLY", "\"10\">9", "AS", "q", "APPLY", "2^3^2", "AS", "r", "APPLY", "1||0&&0", "AS", "s", "APPLY", "10 - 2", "AS", "t", "APPLY", "1+-2", "AS", "u"], expect: Ok((1, &[&["a", "0.333333333333", "b", "1e+20", "c", "123456789012345680", "d", "1.41421356237", "e", "nan", "f", "-inf", "g", "-nan", "h", "-1", "i", "4", "j", "9.22337203685e+18", "k", "-9223372036854775808", "l", "1.23456789012e+12", "m", "1e-05", "n", "(nil)", "o", "(nil)", "p", "0", "q", "1", "r", "64", "s", "0", "t", "8", "u", "-1"]])) },
    Case { query: "@brand:{dell}", args: &["APPLY", "contains(\"aaaa\",\"aa\")", "AS", "a", "APPLY", "contains(\"abc\",\"\")", "AS", "b", "APPLY", "split(\"a.b..c\",\".\")", "AS", "c", "APPLY", "split(\" a , b \",\",\",\" \")", "AS", "d", "APPLY", "substr(\"abc\",5,1)", "AS", "e", "APPLY", "substr(\"abc\",-1,2)", "AS", "f", "APPLY", "parsetime(\"2023-11-14\",\"%Y-%m-%d\")", "AS", "g", "APPLY", "parsetime(\"bad\",\"%Y\")", "AS", "h", "APPLY", "timefmt(\"xx\")", "AS", "i", "APPLY", "abs(\"-3\")", "AS", "j", "APPLY", "sqrt(\"x\")", "AS", "k", "APPLY", "geodistance(\"1,2\",\"3,4\")", "AS", "l", "APPLY", "ceil(1.2)", "AS", "m", "APPLY", "floor(-1.5)", "AS", "n", "APPLY", "exp(1)", "AS", "o", "APPLY", "log2(8)", "AS", "p", "APPLY", "!\"x\"", "AS", "q", "APPLY", "'x'", "AS", "r", "APPLY", "\"a\\\"b\"", "AS", "s"], expect: Ok((1, &[&["a", "3", "b", "4", "c", "[a|b|c]", "d", "[a|b]", "e", "", "f", "c", "g", "1699920000", "h", "(nil)", "i", "(nil)", "j", "3", "k", "nan", "l", "314371.93", "m", "2", "n", "-2", "o", "2.71828182846", "p", "3", "q", "0", "r", "x", "s", "a\"b"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "SORTBY", "1", "@price", "APPLY", "@rating+1", "AS", "x"], expect: Err("rating: has no value, consider using EXISTS if applicable") },
    Case { query: "*", args: &["LOAD", "1", "@rating", "APPLY", "@rating+1", "AS", "x", "SORTBY", "1", "@x"], expect: Err("rating: has no value, consider using EXISTS if applicable") },
    Case { query: "*", args: &["LOAD", "1", "@rating", "APPLY", "@rating+1", "AS", "x", "GROUPBY", "1", "@x"], expect: Err("rating: has no value, consider using EXISTS if applicable") },
    Case { query: "*", args: &["LOAD", "1", "@rating", "FILTER", "@rating>4.4", "LIMIT", "0", "2"], expect: Ok((1, &[&["rating", "4.8"], &["rating", "4.5"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "SORTBY", "2", "@price", "DESC", "APPLY", "@rating+1", "AS", "x"], expect: Ok((6, &[&["rating", "4.8", "price", "1999", "x", "5.8"], &["rating", "4.1", "price", "1499", "x", "5.1"], &["rating", "4.5", "price", "999", "x", "5.5"], &["rating", "4.2", "price", "799", "x", "5.2"], &["rating", "3.9", "price", "699.5", "x", "4.9"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "FILTER", "@rating>4.6", "APPLY", "@rating+1", "AS", "x"], expect: Ok((1, &[&["rating", "4.8", "x", "5.8"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "SORTBY", "2", "@price", "DESC", "APPLY", "@rating+1", "AS", "x", "LIMIT", "0", "2"], expect: Ok((6, &[&["rating", "4.8", "price", "1999", "x", "5.8"], &["rating", "4.1", "price", "1499", "x", "5.1"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "SORTBY", "2", "@price", "DESC", "APPLY", "@rating+1", "AS", "x", "LIMIT", "1", "20"], expect: Ok((6, &[&["rating", "4.1", "price", "1499", "x", "5.1"], &["rating", "4.5", "price", "999", "x", "5.5"], &["rating", "4.2", "price", "799", "x", "5.2"], &["rating", "3.9", "price", "699.5", "x", "4.9"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "APPLY", "@rating*2", "AS", "x", "LIMIT", "0", "3"], expect: Ok((1, &[&["rating", "4.8", "x", "9.6"], &["rating", "4.1", "x", "8.2"], &["rating", "4.5", "x", "9"]])) },
    Case { query: "*", args: &["LOAD", "1", "@rating", "APPLY", "@rating*2", "AS", "x", "LIMIT", "0", "4"], expect: Ok((1, &[&["rating", "4.8", "x", "9.6"], &["rating", "4.1", "x", "8.2"], &["rating", "4.5", "x", "9"]])) },
    Case { query: "*", args: &["LOAD", "3", "@name", "@cat", "@stock", "GROUPBY", "2", "@cat", "@brand", "REDUCE", "TOLIST", "1", "@name", "AS", "names", "REDUCE", "SUM", "1", "@stock", "AS", "stock", "APPLY", "upper(@cat)", "AS", "ucat", "FILTER", "@stock>=5", "SORTBY", "4", "@stock", "DESC", "@cat", "ASC"], expect: Ok((6, &[&["cat", "watch", "brand", "apple", "names", "[apple watch]", "stock", "20", "ucat", "WATCH"], &["cat", "phone", "brand", "apple", "names", "[apple iphone]", "stock", "10", "ucat", "PHONE"], &["cat", "laptop", "brand", "apple", "names", "[apple macbook]", "stock", "5", "ucat", "LAPTOP"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "RANDOM_SAMPLE", "2", "@cat", "5", "AS", "s", "SORTBY", "1", "@brand"], expect: Ok((4, &[&["brand", "apple", "s", "[laptop|phone|watch]"], &["brand", "dell", "s", "[laptop]"], &["brand", "google", "s", "[phone]"], &["brand", "samsung", "s", "[phone]"]])) },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "FIRST_VALUE", "3", "@name", "BY", "@price", "AS", "cheapest", "REDUCE", "MAX", "1", "@price", "AS", "top", "SORTBY", "2", "@top", "DESC", "MAX", "3"], expect: Ok((4, &[&["brand", "apple", "cheapest", "apple watch", "top", "1999"], &["brand", "dell", "cheapest", "dell xps", "top", "1499"], &["brand", "samsung", "cheapest", "samsung galaxy", "top", "799"]])) },
    Case { query: "*", args: &["APPLY", "@price*2", "AS", "price2", "APPLY", "@price2 + 0.5", "AS", "p3", "FILTER", "@p3 > 1000", "SORTBY", "2", "@p3", "ASC"], expect: Ok((6, &[&["price", "699.5", "price2", "1399", "p3", "1399.5"], &["price", "799", "price2", "1598", "p3", "1598.5"], &["price", "999", "price2", "1998", "p3", "1998.5"], &["price", "1499", "price2", "2998", "p3", "2998.5"], &["price", "1999", "price2", "3998", "p3", "3998.5"]])) },
    Case { query: "*", args: &["LOAD", "1", "@ts", "APPLY", "timefmt(day(@ts))", "AS", "d", "APPLY", "timefmt(month(@ts), \"%B %Y\")", "AS", "m", "SORTBY", "1", "@ts"], expect: Ok((6, &[&["ts", "1680000000", "d", "2023-03-28T00:00:00Z", "m", "March 2023"], &["ts", "1690000000", "d", "2023-07-22T00:00:00Z", "m", "July 2023"], &["ts", "1700000000", "d", "2023-11-14T00:00:00Z", "m", "November 2023"], &["ts", "1700086400", "d", "2023-11-15T00:00:00Z", "m", "November 2023"], &["ts", "1705000000", "d", "2024-01-11T00:00:00Z", "m", "January 2024"], &["ts", "1710000000", "d", "2024-03-09T00:00:00Z", "m", "March 2024"]])) },
    Case { query: "*", args: &["APPLY", "parsetime(timefmt(1700000000, \"%Y-%m-%dT%H:%M:%S\"), \"%Y-%m-%dT%H:%M:%S\")", "AS", "t", "LIMIT", "0", "1"], expect: Ok((1, &[&["t", "1700000000"]])) },
    Case { query: "*", args: &["ADDSCORES", "LOAD", "1", "@name", "LIMIT", "0", "0"], expect: Ok((6, &[])) },
    Case { query: "*", args: &["VERBATIM", "DIALECT", "2", "TIMEOUT", "100", "PARAMS", "2", "p", "1", "LOAD", "1", "@name", "SORTBY", "1", "@name", "MAX", "1"], expect: Ok((6, &[&["name", "apple iphone"]])) },
    Case { query: "*", args: &["APPLY", "\"abc\"+1", "AS", "x"], expect: Err("Could not convert value to a number") },
    Case { query: "*", args: &["APPLY", "@nofield", "AS", "x"], expect: Err("Property `nofield` not loaded nor in pipeline") },
    Case { query: "*", args: &["APPLY", "@stock", "AS", "x"], expect: Err("Property `stock` not loaded nor in pipeline") },
    Case { query: "*", args: &["FILTER", "@stock>1"], expect: Err("Property `stock` not loaded nor in pipeline") },
    Case { query: "*", args: &["GROUPBY", "1", "@nofield"], expect: Err("No such property `nofield`") },
    Case { query: "*", args: &["GROUPBY", "1", "stock"], expect: Err("Bad arguments for GROUPBY: Unknown property `stock`. Did you mean `@stock`?") },
    Case { query: "*", args: &["SORTBY", "1", "@nofield"], expect: Err("Property `nofield` not loaded nor in schema") },
    Case { query: "*", args: &["GROUPBY", "1", "@cat", "REDUCE", "SUM", "1", "@nofield", "AS", "s"], expect: Err("Property `nofield` not present in document or pipeline") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT", "0", "AS", "n", "SORTBY", "1", "@price"], expect: Err("Property `price` not loaded nor in schema") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT", "0", "AS", "n", "APPLY", "@price", "AS", "p"], expect: Err("Property `price` not loaded nor in pipeline") },
    Case { query: "*", args: &["APPLY", "10-2", "AS", "x"], expect: Err("Syntax error at offset 2 near '-2'") },
    Case { query: "*", args: &["APPLY", "@price-1", "AS", "x"], expect: Err("Syntax error at offset 6 near '-1'") },
    Case { query: "*", args: &["APPLY", "\"a\"+", "AS", "x"], expect: Err("Syntax error at offset 3 near '\"a\"'") },
    Case { query: "*", args: &["APPLY", "\"a\" \"b\"", "AS", "x"], expect: Err("Syntax error at offset 4 near '\"b\"'") },
    Case { query: "*", args: &["APPLY", "1 ? 2", "AS", "x"], expect: Err("Syntax error at offset 4 near '2'") },
    Case { query: "*", args: &["APPLY", "-@price", "AS", "x"], expect: Err("Syntax error at offset 1 near 'price'") },
    Case { query: "*", args: &["APPLY", "0x10", "AS", "x"], expect: Err("Syntax error at offset 1 near 'x10'") },
    Case { query: "*", args: &["APPLY", "inf", "AS", "x"], expect: Err("Unknown symbol 'inf'") },
    Case { query: "*", args: &["APPLY", "foo(1)", "AS", "x"], expect: Err("Unknown function name 'foo'") },
    Case { query: "*", args: &["APPLY", "upper()", "AS", "x"], expect: Err("Invalid arguments for function 'upper'") },
    Case { query: "*", args: &["APPLY", "upper(1,2)", "AS", "x"], expect: Err("Invalid arguments for function 'upper'") },
    Case { query: "*", args: &["APPLY", "strlen(12)", "AS", "x"], expect: Err("Invalid type (1) for argument 0 in function 'strlen'. VALIDATE_ARG__STRING(v, 0) was false.") },
    Case { query: "*", args: &["APPLY", "format(\"%d\",1)", "AS", "x"], expect: Err("Unknown format specifier passed") },
    Case { query: "*", args: &["APPLY", "format(\"%s\")", "AS", "x"], expect: Err("Not enough arguments for format") },
    Case { query: "*", args: &["APPLY", "", "AS", "y"], expect: Err("Syntax error at offset 0 near ''") },
    Case { query: "*", args: &["FILTER", ""], expect: Err("Syntax error at offset 0 near ''") },
    Case { query: "*", args: &["GROUPBY"], expect: Err("Bad arguments for GROUPBY: Expected an argument, but none provided") },
    Case { query: "*", args: &["GROUPBY", "x"], expect: Err("Bad arguments for GROUPBY: Could not convert argument to expected type") },
    Case { query: "*", args: &["GROUPBY", "2", "@brand"], expect: Err("Bad arguments for GROUPBY: Expected an argument, but none provided") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE"], expect: Err("Bad arguments for REDUCE: SUCCESS") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "FOO", "0"], expect: Err("No such reducer: FOO") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT"], expect: Err("Bad arguments for COUNT: Expected an argument, but none provided") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT", "1"], expect: Err("Bad arguments for COUNT: Expected an argument, but none provided") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT", "1", "@x"], expect: Err("Count accepts 0 values only") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "SUM", "0"], expect: Err("Missing arguments for SUM") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT", "0", "AS"], expect: Err("Bad arguments for AS: Expected an argument, but none provided") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "QUANTILE", "2", "@price", "2"], expect: Err("Percentage must be between 0.0 and 1.0") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "QUANTILE", "2", "@price", "x"], expect: Err("Bad arguments for QUANTILE: Could not convert argument to expected type") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "FIRST_VALUE", "2", "@name", "BY"], expect: Err("Missing arguments for FIRST_VALUE") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "FIRST_VALUE", "4", "@name", "BY", "@price", "UP"], expect: Err("Unknown argument `UP` at position 3 for FIRST_VALUE") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "FIRST_VALUE", "3", "@name", "XX", "@price"], expect: Err("Unknown argument `XX` at position 1 for FIRST_VALUE") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "RANDOM_SAMPLE", "2", "@name", "x"], expect: Err("Bad arguments for <sample size>: Could not convert argument to expected type") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "TOLIST", "0"], expect: Err("Missing arguments for TOLIST") },
    Case { query: "*", args: &["GROUPBY", "1", "@brand", "REDUCE", "COUNT", "0", "AS", "n", "BADARG"], expect: Err("Unknown argument `BADARG` at position 9 for <main>") },
    Case { query: "*", args: &["SORTBY"], expect: Err("Bad arguments for SORTBY: Expected an argument, but none provided") },
    Case { query: "*", args: &["SORTBY", "x"], expect: Err("Bad arguments for SORTBY: Could not convert argument to expected type") },
    Case { query: "*", args: &["SORTBY", "1", "@price", "MAX"], expect: Err("Bad arguments for MAX: Could not convert argument to expected type") },
    Case { query: "*", args: &["SORTBY", "1", "@price", "MAX", "-1"], expect: Err("Bad arguments for MAX: Could not convert argument to expected type") },
    Case { query: "*", args: &["SORTBY", "2", "@price"], expect: Err("Bad arguments for SORTBY: Expected an argument, but none provided") },
    Case { query: "*", args: &["SORTBY", "1", "price"], expect: Err("MISSING ASC or DESC after sort field (price)") },
    Case { query: "*", args: &["SORTBY", "1", "@price", "SORTBY", "1", "@name"], expect: Err("Multiple SORTBY steps are not allowed. Sort multiple fields in a single step") },
    Case { query: "*", args: &["SORTBY", "1", "@price", "LIMIT", "1", "10", "MAX", "3"], expect: Err("Unknown argument `MAX` at position 7 for <main>") },
    Case { query: "*", args: &["APPLY"], expect: Err("Bad arguments for APPLY/FILTER: Expected an argument, but none provided") },
    Case { query: "*", args: &["APPLY", "1+1", "AS"], expect: Err("AS needs argument") },
    Case { query: "*", args: &["APPLY", "1+1", "XX", "y"], expect: Err("Unknown argument `XX` at position 3 for <main>") },
    Case { query: "*", args: &["FILTER"], expect: Err("Bad arguments for APPLY/FILTER: Expected an argument, but none provided") },
    Case { query: "*", args: &["LIMIT"], expect: Err("LIMIT requires two arguments") },
    Case { query: "*", args: &["LIMIT", "1"], expect: Err("LIMIT requires two arguments") },
    Case { query: "*", args: &["LIMIT", "x", "1"], expect: Err("LIMIT needs two numeric arguments") },
    Case { query: "*", args: &["LIMIT", "-1", "1"], expect: Err("LIMIT needs two numeric arguments") },
    Case { query: "*", args: &["LIMIT", "0", "10001"], expect: Err("LIMIT exceeds maximum of 10000") },
    Case { query: "*", args: &["LOAD"], expect: Err("Bad arguments for LOAD: Expected an argument, but none provided") },
    Case { query: "*", args: &["LOAD", "x"], expect: Err("Bad arguments for LOAD: SUCCESS") },
    Case { query: "*", args: &["LOAD", "2", "@name"], expect: Err("Bad arguments for LOAD: SUCCESS") },
    Case { query: "*", args: &["LOAD", "2", "@name", "AS"], expect: Err("LOAD path AS name - must be accompanied with NAME") },
    Case { query: "*", args: &["TIMEOUT"], expect: Err("Need argument for TIMEOUT") },
    Case { query: "*", args: &["TIMEOUT", "x"], expect: Err("TIMEOUT requires a non negative integer") },
    Case { query: "*", args: &["WITHCURSOR", "COUNT"], expect: Err("Bad arguments for COUNT: Expected an argument, but none provided") },
    Case { query: "*", args: &["WITHCURSOR", "COUNT", "x"], expect: Err("Bad arguments for COUNT: Could not convert argument to expected type") },
    Case { query: "*", args: &["WITHCURSOR", "COUNT", "0"], expect: Err("Bad arguments for COUNT: Value is outside acceptable bounds") },
    Case { query: "*", args: &["WITHCURSOR", "MAXIDLE", "0"], expect: Err("Bad arguments for MAXIDLE: Value is outside acceptable bounds") },
    Case { query: "*", args: &["PARAMS"], expect: Err("Bad arguments for PARAMS: Expected an argument, but none provided") },
    Case { query: "*", args: &["PARAMS", "1", "a"], expect: Err("Parameters must be specified in PARAM VALUE pairs") },
    Case { query: "*", args: &["PARAMS", "2", "a"], expect: Err("Bad arguments for PARAMS: Expected an argument, but none provided") },
    Case { query: "*", args: &["PARAMS", "x"], expect: Err("Bad arguments for PARAMS: Could not convert argument to expected type") },
    Case { query: "*", args: &["PARAMS", "4", "a", "1", "a", "2"], expect: Err("Duplicate parameter `a`") },
    Case { query: "*", args: &["DIALECT"], expect: Err("Need an argument for DIALECT") },
    Case { query: "*", args: &["DIALECT", "0"], expect: Err("DIALECT requires a non negative integer >=1 and <= 4") },
    Case { query: "*", args: &["DIALECT", "5"], expect: Err("DIALECT requires a non negative integer >=1 and <= 4") },
    Case { query: "*", args: &["SCORER"], expect: Err("Bad arguments for SCORER: Expected an argument, but none provided") },
    Case { query: "*", args: &["SCORER", "NOPE"], expect: Err("No such scorer NOPE") },
    Case { query: "*", args: &["FOO"], expect: Err("Unknown argument `FOO` at position 1 for <main>") },
];

fn unordered(args: &[&str]) -> bool {
    let group = args.iter().rposition(|a| a.eq_ignore_ascii_case("GROUPBY"));
    let sort = args.iter().rposition(|a| a.eq_ignore_ascii_case("SORTBY"));
    matches!((group, sort), (Some(g), s) if s.is_none_or(|s| s < g))
}

#[test]
fn pipelines_match_the_reference() {
    let mut failures = Vec::new();
    for case in CASES {
        let got = run(case.query, case.args);
        let expected: Result<Reply, String> = case
            .expect
            .map(|(total, rows)| {
                let rows = rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|c| {
                                // Lists compare with sorted elements, as `show` renders them.
                                match c.strip_prefix('[').and_then(|c| c.strip_suffix(']')) {
                                    Some(inner) if !inner.is_empty() => {
                                        let mut parts: Vec<&str> = inner.split('|').collect();
                                        parts.sort();
                                        format!("[{}]", parts.join("|"))
                                    }
                                    _ => (*c).to_owned(),
                                }
                            })
                            .collect()
                    })
                    .collect();
                (total, rows)
            })
            .map_err(str::to_owned);
        let (mut got, mut expected) = (got, expected);
        if unordered(case.args) {
            if let (Ok((_, g)), Ok((_, e))) = (&mut got, &mut expected) {
                g.sort();
                e.sort();
            }
        }
        if got != expected {
            failures.push(format!(
                "{} {:?}\n   got: {:?}\n  want: {:?}",
                case.query, case.args, got, expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn numbers_print_like_the_reference() {
    // Recorded with APPLY "<expr>" AS x on the reference.
    let cases: &[(f64, &str)] = &[
        (1.0 / 3.0, "0.333333333333"),
        (5.0, "5"),
        (1e15, "1000000000000000"),
        (1e17, "100000000000000000"),
        (9e18, "9000000000000000000"),
        (-9e18, "-9000000000000000000"),
        (1e19, "1e+19"),
        (-1e19, "-1e+19"),
        (1e20, "1e+20"),
        (2f64.powi(62), "4611686018427387904"),
        (2f64.powi(63), "9.22337203685e+18"),
        (-(2f64.powi(63)), "-9223372036854775808"),
        (1234567890123.5, "1.23456789012e+12"),
        (123456789012.5, "123456789012"),
        (100000000000.5, "100000000000"),
        (0.1 + 0.2, "0.3"),
        (1e-5, "1e-05"),
        (1e-7, "1e-07"),
        (-0.0, "0"),
        (2f64.sqrt(), "1.41421356237"),
        (1.0f64.exp(), "2.71828182846"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        (-f64::NAN, "-nan"),
        (1132.3333333333333, "1132.33333333"),
        (808.290376865, "808.290376865"),
    ];
    for (n, text) in cases {
        assert_eq!(format_number(*n), *text, "{n:e}");
    }
    assert_eq!(Value::Null.format(), None);
    assert_eq!(Value::Str("x".into()).format().as_deref(), Some("x"));
}

fn plan_of(args: &[&str]) -> Plan {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    parse(&argv).unwrap()
}

#[test]
fn fields_needed_lists_loads_and_references_before_the_first_groupby() {
    let plan = plan_of(&[
        "LOAD",
        "3",
        "@title",
        "AS",
        "t",
        "APPLY",
        "@price*2",
        "AS",
        "p2",
        "FILTER",
        "@p2>1",
        "SORTBY",
        "2",
        "@stock",
        "DESC",
        "GROUPBY",
        "1",
        "@cat",
        "REDUCE",
        "SUM",
        "1",
        "@p2",
        "REDUCE",
        "FIRST_VALUE",
        "3",
        "@name",
        "BY",
        "@rating",
        "APPLY",
        "@later",
        "AS",
        "z",
    ]);
    let needed = plan.fields_needed();
    assert!(!needed.all);
    let pairs: Vec<(&str, &str)> =
        needed.fields.iter().map(|f| (f.source.as_str(), f.name.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("title", "t"),
            ("price", "price"),
            ("stock", "stock"),
            ("cat", "cat"),
            ("name", "name"),
            ("rating", "rating")
        ]
    );
    assert!(plan_of(&["LOAD", "*"]).fields_needed().all);
    assert_eq!(
        plan.output_fields(),
        [
            "cat",
            "__generated_aliassump2",
            "__generated_aliasfirst_valuename,by,rating",
            "later",
            "z"
        ]
    );
}

#[test]
fn options_are_parsed_into_the_plan() {
    let plan = plan_of(&[
        "verbatim",
        "ADDSCORES",
        "SCORER",
        "bm25",
        "TIMEOUT",
        "50",
        "PARAMS",
        "4",
        "a",
        "1",
        "b",
        "xyz",
        "DIALECT",
        "3",
        "WITHCURSOR",
        "MAXIDLE",
        "500",
        "COUNT",
        "7",
    ]);
    assert!(plan.verbatim && plan.add_scores);
    assert_eq!(plan.scorer.as_deref(), Some("BM25"));
    assert_eq!(plan.timeout_ms, Some(50));
    assert_eq!(
        plan.params,
        vec![("a".to_owned(), b"1".to_vec()), ("b".to_owned(), b"xyz".to_vec())]
    );
    assert_eq!(plan.dialect, Some(3));
    assert_eq!(plan.cursor, Some(CursorOptions { count: Some(7), max_idle_ms: Some(500) }));
    assert_eq!(plan_of(&["WITHCURSOR"]).cursor, Some(CursorOptions::default()));
    assert_eq!(plan_of(&[]).cursor, None);
    // ADDSCORES shows the server-provided __score first.
    assert_eq!(plan.output_fields(), ["__score"]);
}

#[test]
fn limit_and_sortby_fold_into_one_step_with_the_reference_default_of_ten() {
    let plan = plan_of(&["LIMIT", "0", "3", "SORTBY", "1", "@x"]);
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(
        plan.steps[0],
        Step::Arrange(Arrange {
            keys: vec![SortKey { field: "x".into(), ascending: true }],
            max: 0,
            limit: Some((0, 3)),
        })
    );
    let sorted = plan_of(&["SORTBY", "1", "@x"]);
    let rows: Vec<Row> =
        (0..25).map(|i| Row::from_pairs([("x", Value::Num(f64::from(i)))])).collect();
    let out = execute(&sorted, rows.clone()).unwrap();
    assert_eq!(out.rows.len(), DEFAULT_SORT_LIMIT);
    assert_eq!(out.total, 25);
    let unsorted = execute(&plan_of(&["LOAD", "1", "@x"]), rows).unwrap();
    assert_eq!(unsorted.rows.len(), 25);
    assert_eq!(unsorted.total, 1);
}

#[test]
fn a_missing_field_after_rows_were_produced_becomes_a_warning() {
    let plan = plan_of(&["LOAD", "1", "@rating", "APPLY", "@rating+1", "AS", "x"]);
    plan.check_fields(&schema).unwrap();
    let out = execute(&plan, initial_rows(&plan, "*")).unwrap();
    assert_eq!(out.rows.len(), 3);
    assert_eq!(
        out.warning.as_deref(),
        Some("rating: has no value, consider using EXISTS if applicable")
    );
    let plan =
        plan_of(&["LOAD", "1", "@rating", "APPLY", "@rating+1", "AS", "x", "LIMIT", "0", "2"]);
    assert_eq!(execute(&plan, initial_rows(&plan, "*")).unwrap().warning, None);
}

#[test]
fn split_keeps_element_order_and_lists_nest_in_rows() {
    let plan = plan_of(&["APPLY", "split(\"b,a, c\")", "AS", "l"]);
    let out = execute(&plan, vec![Row::new()]).unwrap();
    assert_eq!(
        out.rows[0].get("l"),
        Some(&Value::List(vec![
            Value::Str("b".into()),
            Value::Str("a".into()),
            Value::Str("c".into())
        ]))
    );
}

#[test]
fn calendar_conversions_round_trip() {
    use super::time::{strftime, strptime, Civil};
    for t in [-86_401_i64, 0, 951_782_400, 1_709_164_800, 4_102_444_799] {
        let text = strftime(t, "%Y-%m-%d %H:%M:%S");
        assert_eq!(strptime(&text, "%Y-%m-%d %H:%M:%S"), Some(t), "{text}");
    }
    // 2024-02-29 is a leap day, a Thursday, day 59 of its year (0-based).
    let leap = Civil::from_unix(1_709_164_800);
    assert_eq!(
        (leap.year, leap.month, leap.day, leap.weekday, leap.year_day),
        (2024, 2, 29, 4, 59)
    );
    assert_eq!(
        strftime(0, "%FT%TZ %A %B %e %I%p"),
        "1970-01-01T00:00:00Z Thursday January  1 12AM"
    );
    assert_eq!(strptime("Nov 14 2023", "%b %d %Y"), Some(1_699_920_000));
    assert_eq!(strptime("2023-13-01", "%Y-%m-%d"), None);
}

#[test]
fn expressions_follow_the_reference_precedence() {
    let eval = |text: &str| Expr::parse(text).unwrap().eval(&Row::new()).unwrap();
    assert_eq!(eval("1+2*3"), Value::Num(7.0));
    assert_eq!(eval("2^3^2"), Value::Num(64.0));
    assert_eq!(eval("-2^2"), Value::Num(4.0));
    assert_eq!(eval("0&&0||1"), Value::Num(1.0));
    assert_eq!(eval("1||0&&0"), Value::Num(0.0));
    assert_eq!(eval("!(1==1)"), Value::Num(0.0));
    assert_eq!(eval("(1+2)*3"), Value::Num(9.0));
    assert_eq!(eval("'a' < 'b'"), Value::Num(1.0));
    assert_eq!(eval("matched_terms()"), Value::Null);
    assert_eq!(eval("geodistance(\"1,2\",\"3,4\")"), Value::Num(314_371.93));
}
