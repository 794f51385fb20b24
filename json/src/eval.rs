//! Path evaluation over a `serde_json::Value` tree, with RedisJSON 2.8 semantics
//! (negative indexes below the start clamp to the first element, filters apply to object
//! member values and to a scalar itself, `!=` is true when the left side is missing).

use crate::path::{CmpOp, Expr, Operand, Segment, Selector};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::HashMap;

/// One step of a location: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Array index.
    Index(usize),
    /// Object key.
    Key(String),
}

/// A location in a document: the steps from the root.
pub type Loc = Vec<Step>;

struct Ctx<'a> {
    root: &'a Value,
    regex: HashMap<String, Option<regex::Regex>>,
}

/// All values the segments select, in order.
pub fn query<'a>(root: &'a Value, segs: &[Segment]) -> Vec<&'a Value> {
    let mut cx = Ctx { root, regex: HashMap::new() };
    let mut cur: Vec<(Option<Loc>, &'a Value)> = vec![(None, root)];
    for s in segs {
        cur = step(&mut cx, cur, s);
    }
    cur.into_iter().map(|(_, v)| v).collect()
}

/// All locations the segments select, in order, with their values.
pub fn query_located<'a>(root: &'a Value, segs: &[Segment]) -> Vec<(Loc, &'a Value)> {
    let mut cx = Ctx { root, regex: HashMap::new() };
    let mut cur: Vec<(Option<Loc>, &'a Value)> = vec![(Some(Vec::new()), root)];
    for s in segs {
        cur = step(&mut cx, cur, s);
    }
    cur.into_iter().map(|(l, v)| (l.unwrap_or_default(), v)).collect()
}

/// The value at a location.
pub fn get<'a>(root: &'a Value, loc: &[Step]) -> Option<&'a Value> {
    let mut v = root;
    for s in loc {
        v = match (s, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// The value at a location, mutably.
pub fn get_mut<'a>(root: &'a mut Value, loc: &[Step]) -> Option<&'a mut Value> {
    let mut v = root;
    for s in loc {
        v = match (s, v) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

type Nodes<'a> = Vec<(Option<Loc>, &'a Value)>;

fn push<'a>(out: &mut Nodes<'a>, loc: &Option<Loc>, s: impl FnOnce() -> Step, v: &'a Value) {
    let l = loc.as_ref().map(|l| {
        let mut l = l.clone();
        l.push(s());
        l
    });
    out.push((l, v));
}

fn step<'a>(cx: &mut Ctx<'a>, cur: Nodes<'a>, seg: &Segment) -> Nodes<'a> {
    let mut out = Vec::new();
    for (loc, v) in cur {
        match seg {
            Segment::Child(sel) => select(cx, &loc, v, sel, &mut out),
            Segment::Descendant(sel) => descend(cx, &loc, v, sel, &mut out),
        }
    }
    out
}

fn descend<'a>(
    cx: &mut Ctx<'a>,
    loc: &Option<Loc>,
    v: &'a Value,
    sel: &Selector,
    out: &mut Nodes<'a>,
) {
    select(cx, loc, v, sel, out);
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let l = loc.as_ref().map(|l| {
                    let mut l = l.clone();
                    l.push(Step::Key(k.clone()));
                    l
                });
                descend(cx, &l, c, sel, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let l = loc.as_ref().map(|l| {
                    let mut l = l.clone();
                    l.push(Step::Index(i));
                    l
                });
                descend(cx, &l, c, sel, out);
            }
        }
        _ => {}
    }
}

pub(crate) fn norm_index(i: i64, len: usize) -> Option<usize> {
    if i >= 0 {
        let i = usize::try_from(i).ok()?;
        (i < len).then_some(i)
    } else if len == 0 {
        None
    } else {
        let back = usize::try_from(i.unsigned_abs()).unwrap_or(usize::MAX);
        Some(len.saturating_sub(back))
    }
}

fn select<'a>(
    cx: &mut Ctx<'a>,
    loc: &Option<Loc>,
    v: &'a Value,
    sel: &Selector,
    out: &mut Nodes<'a>,
) {
    match (sel, v) {
        (Selector::Name(n), Value::Object(m)) => {
            if let Some(c) = m.get(n) {
                push(out, loc, || Step::Key(n.clone()), c);
            }
        }
        (Selector::Names(ns), Value::Object(m)) => {
            for n in ns {
                if let Some(c) = m.get(n) {
                    push(out, loc, || Step::Key(n.clone()), c);
                }
            }
        }
        (Selector::Wildcard, Value::Object(m)) => {
            for (k, c) in m {
                push(out, loc, || Step::Key(k.clone()), c);
            }
        }
        (Selector::Wildcard, Value::Array(a)) => {
            for (i, c) in a.iter().enumerate() {
                push(out, loc, || Step::Index(i), c);
            }
        }
        (Selector::Indexes(ix), Value::Array(a)) => {
            for &i in ix {
                if let Some(i) = norm_index(i, a.len()) {
                    push(out, loc, || Step::Index(i), &a[i]);
                }
            }
        }
        (Selector::Slice(start, end, step), Value::Array(a)) => {
            let len = i64::try_from(a.len()).unwrap_or(i64::MAX);
            let fix = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
            let s = start.map_or(0, fix);
            let e = end.map_or(len, fix);
            let st = step.unwrap_or(1).max(1);
            let mut i = s;
            while i < e {
                let u = usize::try_from(i).unwrap_or(0);
                push(out, loc, || Step::Index(u), &a[u]);
                i += st;
            }
        }
        (Selector::Filter(e), Value::Array(a)) => {
            for (i, c) in a.iter().enumerate() {
                if eval_expr(cx, e, c) {
                    push(out, loc, || Step::Index(i), c);
                }
            }
        }
        (Selector::Filter(e), Value::Object(m)) => {
            // RedisJSON records a member a filter selects by its position, as a key: the
            // location names the member whose key is that number, if any (so JSON.NUMINCRBY
            // `$[?(@==2)]` on `{"a":1,"b":2,"1":10}` increments `"1"`; checked against the
            // reference). Values are still the members the filter chose.
            for (i, c) in m.values().enumerate() {
                if eval_expr(cx, e, c) {
                    push(out, loc, || Step::Key(i.to_string()), c);
                }
            }
        }
        // RedisJSON applies a filter on a scalar to the scalar itself and selects it when the
        // filter holds (`$.n[?(@>1)]` on `2` is `[2]`), so `$..[?(...)]` reaches each
        // scalar member twice: as a member of its parent and as itself.
        (Selector::Filter(e), _) if eval_expr(cx, e, v) => out.push((loc.clone(), v)),
        _ => {}
    }
}

fn eval_expr<'a>(cx: &mut Ctx<'a>, e: &Expr, cur: &'a Value) -> bool {
    match e {
        Expr::Or(v) => v.iter().any(|e| eval_expr(cx, e, cur)),
        Expr::And(v) => v.iter().all(|e| eval_expr(cx, e, cur)),
        Expr::Exists(o) => match o {
            Operand::Literal(v) => truthy(v),
            Operand::Current(segs) => !query(cur, segs).is_empty(),
            Operand::Root(segs) => !query(cx.root, segs).is_empty(),
        },
        Expr::Cmp(l, op, r) => {
            let lv = match l {
                Operand::Literal(v) => Some(v.clone()),
                Operand::Current(segs) => query(cur, segs).first().map(|v| (*v).clone()),
                Operand::Root(segs) => query(cx.root, segs).first().map(|v| (*v).clone()),
            };
            let rv = match r {
                Operand::Literal(v) => Some(v.clone()),
                Operand::Current(segs) => query(cur, segs).first().map(|v| (*v).clone()),
                Operand::Root(segs) => query(cx.root, segs).first().map(|v| (*v).clone()),
            };
            compare(cx, lv.as_ref(), *op, rv.as_ref())
        }
    }
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

fn num_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn compare(cx: &mut Ctx<'_>, l: Option<&Value>, op: CmpOp, r: Option<&Value>) -> bool {
    let (Some(l), Some(r)) = (l, r) else {
        return op == CmpOp::Ne;
    };
    if op == CmpOp::Regex {
        let (Value::String(s), Value::String(p)) = (l, r) else {
            return false;
        };
        let re = cx.regex.entry(p.clone()).or_insert_with(|| regex::Regex::new(p).ok());
        return re.as_ref().is_some_and(|re| re.is_match(s));
    }
    let ord = match (l, r) {
        (Value::Number(a), Value::Number(b)) => num_cmp(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (a, b) if std::mem::discriminant(a) == std::mem::discriminant(b) => {
            if a == b {
                Some(Ordering::Equal)
            } else {
                None
            }
        }
        _ => None,
    };
    match (op, ord) {
        (CmpOp::Ne, None) => true,
        (_, None) => false,
        (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
        (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (CmpOp::Regex, _) => false,
    }
}
