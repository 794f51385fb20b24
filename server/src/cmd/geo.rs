//! Geo commands, on sorted sets: a member's score is the 52-bit geohash of its position
//! (26 bits each of longitude and latitude, interleaved, over Web Mercator's latitude
//! range), exactly as Redis stores it, so `ZRANGE ... WITHSCORES` shows the same numbers.
//!
//! Searches scan the score ranges of the geohash cells covering the search area's
//! bounding box, then keep the members whose decoded position passes the exact test
//! (Redis's haversine distance with its Earth radius). Output digits follow Redis:
//! distances with `%.4f`, coordinates with `%.17Lf` trimmed.

use bytes::Bytes;

use crate::cmd::args::parse_f64;
use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, FindKeys, Flags, Group, KeyFlags, KeySpec,
    Parse, ReadCommand, WriteCommand,
};
use crate::cmd::zset::{plan_add, store_result, upsert_zset, zset_ref};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::reply::Reply;
use crate::types::zset::{cmp_key, ZSet};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "geoadd",
        group: Group::Geo,
        summary: "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        since: "3.2.0",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        arity: -5,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::UPDATE))],
        exec: write::<GeoAdd>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geodist",
        group: Group::Geo,
        summary: "Returns the distance between two members of a geospatial index.",
        since: "3.2.0",
        complexity: "O(1)",
        arity: -4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<GeoDist>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geohash",
        group: Group::Geo,
        summary: "Returns members from a geospatial index as geohash strings.",
        since: "3.2.0",
        complexity: "O(1) for each member requested.",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<GeoMembers<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geopos",
        group: Group::Geo,
        summary: "Returns the longitude and latitude of members from a geospatial index.",
        since: "3.2.0",
        complexity: "O(1) for each member requested.",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<GeoMembers<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geosearch",
        group: Group::Geo,
        summary: "Queries a geospatial index for members inside an area of a box or a circle.",
        since: "6.2.0",
        complexity: "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape",
        arity: -7,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<GeoSearch<F_SEARCH>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "geosearchstore",
        group: Group::Geo,
        summary: "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        since: "6.2.0",
        complexity: "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape",
        arity: -8,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(1, KeyFlags::OW.with(KeyFlags::UPDATE)), KeySpec { begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 }, flags: KeyFlags::RO.with(KeyFlags::ACCESS) }],
        exec: write::<GeoSearchWrite<F_SEARCHSTORE>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadius",
        group: Group::Geo,
        summary: "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        since: "3.2.0",
        complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        arity: -6,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS)), KeySpec { begin: BeginSearch::Keyword { keyword: "STORE", start: 6 }, find: FindKeys::Range { last: 0, step: 1, limit: 0 }, flags: KeyFlags::OW.with(KeyFlags::UPDATE) }, KeySpec { begin: BeginSearch::Keyword { keyword: "STOREDIST", start: 6 }, find: FindKeys::Range { last: 0, step: 1, limit: 0 }, flags: KeyFlags::OW.with(KeyFlags::UPDATE) }],
        exec: write::<GeoSearchWrite<F_RADIUS>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadius_ro",
        group: Group::Geo,
        summary: "Returns members from a geospatial index that are within a distance from a coordinate.",
        since: "3.2.10",
        complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        arity: -6,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<GeoSearch<F_RADIUS_RO>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadiusbymember",
        group: Group::Geo,
        summary: "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        since: "3.2.0",
        complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        arity: -5,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::MOVABLE_KEYS),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS)), KeySpec { begin: BeginSearch::Keyword { keyword: "STORE", start: 5 }, find: FindKeys::Range { last: 0, step: 1, limit: 0 }, flags: KeyFlags::OW.with(KeyFlags::UPDATE) }, KeySpec { begin: BeginSearch::Keyword { keyword: "STOREDIST", start: 5 }, find: FindKeys::Range { last: 0, step: 1, limit: 0 }, flags: KeyFlags::OW.with(KeyFlags::UPDATE) }],
        exec: write::<GeoSearchWrite<F_BYMEMBER>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "georadiusbymember_ro",
        group: Group::Geo,
        summary: "Returns members from a geospatial index that are within a distance from a member.",
        since: "3.2.10",
        complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        arity: -5,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<GeoSearch<F_BYMEMBER_RO>>(),
        ..CommandSpec::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------
// Geohash arithmetic
// ---------------------------------------------------------------------------------------

const LON_MIN: f64 = -180.0;
const LON_MAX: f64 = 180.0;
/// Web Mercator limits, as Redis uses for the stored hash.
const LAT_MIN: f64 = -85.051_128_78;
const LAT_MAX: f64 = 85.051_128_78;
const STEP: u32 = 26;
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;

/// Spreads the low 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bit positions of `x`.
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// Interleaves latitude bits (even positions) and longitude bits (odd positions).
fn encode_with(lon: f64, lat: f64, lat_min: f64, lat_max: f64, step: u32) -> u64 {
    let cells = (1u64 << step) as f64;
    let lat_off = ((lat - lat_min) / (lat_max - lat_min) * cells) as u32;
    let lon_off = ((lon - LON_MIN) / (LON_MAX - LON_MIN) * cells) as u32;
    spread(lat_off) | (spread(lon_off) << 1)
}

/// The 52-bit geohash Redis stores as the score.
pub(crate) fn encode(lon: f64, lat: f64) -> u64 {
    encode_with(lon, lat, LAT_MIN, LAT_MAX, STEP)
}

/// The cell `(lon_min, lon_max, lat_min, lat_max)` of a hash at `step`.
fn cell(hash: u64, step: u32) -> (f64, f64, f64, f64) {
    let lat_i = f64::from(squash(hash));
    let lon_i = f64::from(squash(hash >> 1));
    let cells = (1u64 << step) as f64;
    let lat_scale = LAT_MAX - LAT_MIN;
    let lon_scale = LON_MAX - LON_MIN;
    (
        LON_MIN + (lon_i / cells) * lon_scale,
        LON_MIN + ((lon_i + 1.0) / cells) * lon_scale,
        LAT_MIN + (lat_i / cells) * lat_scale,
        LAT_MIN + ((lat_i + 1.0) / cells) * lat_scale,
    )
}

/// The (longitude, latitude) a stored score stands for: the centre of its cell.
pub(crate) fn decode(score: f64) -> (f64, f64) {
    let (lon_lo, lon_hi, lat_lo, lat_hi) = cell(score as u64, STEP);
    let lon = ((lon_lo + lon_hi) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((lat_lo + lat_hi) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

fn deg_rad(d: f64) -> f64 {
    d * (std::f64::consts::PI / 180.0)
}

fn rad_deg(r: f64) -> f64 {
    r / (std::f64::consts::PI / 180.0)
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters, as Redis computes it.
pub(crate) fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lon1r, lat2r, lon2r) = (deg_rad(lat1), deg_rad(lon1), deg_rad(lat2), deg_rad(lon2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The standard 11-character geohash (latitude range ±90) of a stored score.
fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode(score);
    let bits = encode_with(lon, lat, -90.0, 90.0, STEP);
    (0..11)
        .map(|i| {
            let idx = if i == 10 { 0 } else { (bits >> (52 - (i + 1) * 5)) & 0x1f };
            ALPHABET[idx as usize] as char
        })
        .collect()
}

/// Redis's "human" long double text: `%.17Lf` with trailing zeros (and a bare point)
/// removed.
fn human(v: f64) -> String {
    let s = format!("{v:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn coord_reply(lon: f64, lat: f64) -> Reply {
    Reply::Array(vec![Reply::DoubleText(human(lon)), Reply::DoubleText(human(lat))])
}

fn parse_unit(arg: &[u8]) -> Result<f64, CmdError> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(CmdError::GeoUnit),
    }
}

fn parse_lon_lat(args: &mut Args<'_>) -> Result<(f64, f64), CmdError> {
    let lon = args.next_f64()?;
    let lat = args.next_f64()?;
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(CmdError::GeoInvalidPair(format!("{lon:.6}"), format!("{lat:.6}")));
    }
    Ok((lon, lat))
}

fn parse_distance(arg: &[u8], negative: CmdError) -> Result<f64, CmdError> {
    let d = parse_f64(arg).ok_or(CmdError::GeoRadiusNotNumeric)?;
    if d < 0.0 {
        return Err(negative);
    }
    Ok(d)
}

// ---------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------

/// `GEOADD key [NX | XX] [CH] longitude latitude member [...]`
struct GeoAdd {
    key: Bytes,
    nx: bool,
    xx: bool,
    ch: bool,
    pairs: Vec<(f64, Bytes)>,
}

impl Parse for GeoAdd {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let (mut nx, mut xx, mut ch) = (false, false, false);
        loop {
            if args.eat("NX") {
                nx = true;
            } else if args.eat("XX") {
                xx = true;
            } else if args.eat("CH") {
                ch = true;
            } else {
                break;
            }
        }
        if (nx && xx) || args.is_empty() || !args.remaining().is_multiple_of(3) {
            return Err(CmdError::Syntax);
        }
        let mut pairs = Vec::with_capacity(args.remaining() / 3);
        while !args.is_empty() {
            let (lon, lat) = parse_lon_lat(args)?;
            pairs.push((encode(lon, lat) as f64, args.next_bytes()?));
        }
        Ok(GeoAdd { key, nx, xx, ch, pairs })
    }
}

impl WriteCommand for GeoAdd {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let plan = {
            let existing = zset_ref(cx.ks.db(cx.db).get(&self.key, cx.now_ms))?;
            plan_add(existing, &self.pairs, self.nx, self.xx, false, false, false)?
        };
        upsert_zset(cx, &self.key, "zadd", &plan.writes);
        Ok(Reply::Int(plan.added + if self.ch { plan.changed } else { 0 }))
    }
}

/// `GEODIST key member1 member2 [M | KM | FT | MI]`
struct GeoDist {
    key: Bytes,
    a: Bytes,
    b: Bytes,
    unit: f64,
}

impl Parse for GeoDist {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let a = args.next_bytes()?;
        let b = args.next_bytes()?;
        let unit = if args.is_empty() { 1.0 } else { parse_unit(args.next_slice()?)? };
        Ok(GeoDist { key, a, b, unit })
    }
}

impl ReadCommand for GeoDist {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        let Some((sa, sb)) = z.and_then(|z| Some((z.score(&self.a)?, z.score(&self.b)?))) else {
            return Ok(Reply::Null);
        };
        let (lon1, lat1) = decode(sa);
        let (lon2, lat2) = decode(sb);
        let d = distance(lon1, lat1, lon2, lat2) / self.unit;
        Ok(Reply::bulk(format!("{d:.4}")))
    }
}

/// `GEOHASH key [member ...]` (`POS`: GEOPOS)
struct GeoMembers<const POS: bool> {
    key: Bytes,
    members: Vec<Bytes>,
}

impl<const POS: bool> Parse for GeoMembers<POS> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(GeoMembers { key: args.next_bytes()?, members: args.take_rest().to_vec() })
    }
}

impl<const POS: bool> ReadCommand for GeoMembers<POS> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.key, cx.now_ms))?;
        Ok(Reply::Array(
            self.members
                .iter()
                .map(|m| match z.and_then(|z| z.score(m)) {
                    None if POS => Reply::NullArray,
                    None => Reply::Null,
                    Some(s) if POS => {
                        let (lon, lat) = decode(s);
                        coord_reply(lon, lat)
                    }
                    Some(s) => Reply::bulk(geohash_string(s)),
                })
                .collect(),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Searches: GEOSEARCH, GEOSEARCHSTORE, GEORADIUS*, and their _RO forms
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Center {
    LonLat(f64, f64),
    Member(Bytes),
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Radius in meters.
    Radius(f64),
    /// Width and height in meters.
    Box(f64, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Everything a search needs, parsed.
#[derive(Debug, Clone)]
struct Search {
    key: Bytes,
    center: Center,
    shape: Shape,
    /// Meters per output unit.
    unit: f64,
    sort: Sort,
    count: usize,
    any: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    /// (destination, store distances instead of hashes).
    store: Option<(Bytes, bool)>,
    /// What the arguments still require of the key, in Redis's order (see [`Check`]).
    checks: Vec<Check>,
}

/// Redis checks the key's type first, then walks the arguments: a FROMMEMBER (or
/// GEORADIUSBYMEMBER's member) must be in an existing set at the point it appears, and
/// GEORADIUSBYMEMBER skips its radius and unit when the key is missing. Parsing is pure,
/// so it records these steps and the first argument error; [`Search::resolve`] replays
/// them against the key.
#[derive(Debug, Clone)]
enum Check {
    /// The member must exist when the key does ("could not decode requested zset member").
    Member(Bytes),
    /// An argument error reported only when the key exists.
    IfKey(CmdError),
    /// An argument error; parsing stopped here.
    Fail(CmdError),
}

const F_RADIUS: u8 = 0;
const F_RADIUS_RO: u8 = 1;
const F_BYMEMBER: u8 = 2;
const F_BYMEMBER_RO: u8 = 3;
const F_SEARCH: u8 = 4;
const F_SEARCHSTORE: u8 = 5;

impl Search {
    /// Parses the arguments; argument errors are deferred into `checks` (see [`Check`]).
    fn parse(args: &mut Args<'_>, form: u8) -> Result<Search, CmdError> {
        let mut store = None;
        if form == F_SEARCHSTORE {
            let dst = args.next_bytes()?;
            store = Some((dst, false));
        }
        let key = args.next_bytes()?;
        let mut s = Search {
            key,
            center: Center::LonLat(0.0, 0.0),
            shape: Shape::Radius(0.0),
            unit: 1.0,
            sort: Sort::None,
            count: 0,
            any: false,
            withdist: false,
            withhash: false,
            withcoord: false,
            store,
            checks: Vec::new(),
        };
        if let Err(e) = s.parse_args(args, form) {
            s.checks.push(Check::Fail(e));
            args.take_rest();
        }
        Ok(s)
    }

    fn parse_args(&mut self, args: &mut Args<'_>, form: u8) -> Result<(), CmdError> {
        let s = self;
        let name = if form == F_SEARCHSTORE { "geosearchstore" } else { "geosearch" };
        let is_search = form >= F_SEARCH;
        if form == F_BYMEMBER || form == F_BYMEMBER_RO {
            let member = args.next_bytes()?;
            s.checks.push(Check::Member(member.clone()));
            s.center = Center::Member(member);
            let (radius, unit) = (args.next_slice()?, args.next_slice()?);
            let parsed = parse_distance(radius, CmdError::GeoRadiusNegative)
                .and_then(|r| Ok((r, parse_unit(unit)?)));
            match parsed {
                Ok((r, unit)) => {
                    s.unit = unit;
                    s.shape = Shape::Radius(r * unit);
                }
                Err(e) => s.checks.push(Check::IfKey(e)),
            }
        } else if !is_search {
            let (lon, lat) = parse_lon_lat(args)?;
            s.center = Center::LonLat(lon, lat);
            let r = parse_distance(args.next_slice()?, CmdError::GeoRadiusNegative)?;
            s.unit = parse_unit(args.next_slice()?)?;
            s.shape = Shape::Radius(r * s.unit);
        }
        let (mut from_set, mut by_set) = (false, false);
        let can_store = form == F_RADIUS || form == F_BYMEMBER;
        while !args.is_empty() {
            if args.eat("WITHDIST") {
                s.withdist = true;
            } else if args.eat("WITHHASH") {
                s.withhash = true;
            } else if args.eat("WITHCOORD") {
                s.withcoord = true;
            } else if args.eat("ANY") {
                s.any = true;
            } else if args.eat("ASC") {
                s.sort = Sort::Asc;
            } else if args.eat("DESC") {
                s.sort = Sort::Desc;
            } else if args.remaining() >= 2 && args.eat("COUNT") {
                let n = args.next_i64()?;
                if n <= 0 {
                    return Err(CmdError::GeoCountNotPositive);
                }
                s.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if can_store && args.remaining() >= 2 && args.eat("STORE") {
                s.store = Some((args.next_bytes()?, false));
            } else if can_store && args.remaining() >= 2 && args.eat("STOREDIST") {
                s.store = Some((args.next_bytes()?, true));
            } else if form == F_SEARCHSTORE && args.eat("STOREDIST") {
                if let Some((_, dist)) = s.store.as_mut() {
                    *dist = true;
                }
            } else if is_search && args.remaining() >= 2 && args.eat("FROMMEMBER") {
                if from_set {
                    return Err(CmdError::Syntax);
                }
                let member = args.next_bytes()?;
                s.checks.push(Check::Member(member.clone()));
                s.center = Center::Member(member);
                from_set = true;
            } else if is_search && args.remaining() >= 3 && args.eat("FROMLONLAT") {
                if from_set {
                    return Err(CmdError::Syntax);
                }
                let (lon, lat) = parse_lon_lat(args)?;
                s.center = Center::LonLat(lon, lat);
                from_set = true;
            } else if is_search && args.remaining() >= 3 && args.eat("BYRADIUS") {
                if by_set {
                    return Err(CmdError::Syntax);
                }
                let r = parse_distance(args.next_slice()?, CmdError::GeoRadiusNegative)?;
                s.unit = parse_unit(args.next_slice()?)?;
                s.shape = Shape::Radius(r * s.unit);
                by_set = true;
            } else if is_search && args.remaining() >= 4 && args.eat("BYBOX") {
                if by_set {
                    return Err(CmdError::Syntax);
                }
                let w = parse_distance(args.next_slice()?, CmdError::GeoBoxNegative)?;
                let h = parse_distance(args.next_slice()?, CmdError::GeoBoxNegative)?;
                s.unit = parse_unit(args.next_slice()?)?;
                s.shape = Shape::Box(w * s.unit, h * s.unit);
                by_set = true;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        if s.store.is_some() && (s.withdist || s.withhash || s.withcoord) {
            return Err(if form == F_SEARCHSTORE {
                CmdError::GeoSearchStoreWith
            } else {
                CmdError::GeoRadiusStoreWith
            });
        }
        if is_search && !from_set {
            return Err(CmdError::GeoSearchNeedsFrom(name));
        }
        if is_search && !by_set {
            return Err(CmdError::GeoSearchNeedsBy(name));
        }
        if s.any && s.count == 0 {
            return Err(CmdError::GeoAnyNeedsCount);
        }
        if s.count != 0 && s.sort == Sort::None && !s.any {
            s.sort = Sort::Asc;
        }
        Ok(())
    }

    /// Replays the deferred checks against the set (`None`: the key is missing; the
    /// caller has already reported WRONGTYPE).
    fn resolve(&self, z: Option<&ZSet>) -> Result<(), CmdError> {
        for check in &self.checks {
            match (check, z) {
                (Check::Member(m), Some(z)) if !z.contains(m) => return Err(CmdError::GeoNoMember),
                (Check::IfKey(e), Some(_)) | (Check::Fail(e), _) => return Err(e.clone()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Matches as (member, score, distance in meters), in reply order.
    fn run(&self, z: &ZSet) -> Result<Vec<(Bytes, f64, f64)>, CmdError> {
        let (lon, lat) = match &self.center {
            Center::LonLat(lon, lat) => (*lon, *lat),
            Center::Member(m) => decode(z.score(m).ok_or(CmdError::GeoNoMember)?),
        };
        let (half_w, half_h) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box(w, h) => (w / 2.0, h / 2.0),
        };
        let mut found = Vec::new();
        let limit = if self.any { self.count } else { usize::MAX };
        'ranges: for (lo, hi) in candidate_ranges(lon, lat, half_w, half_h) {
            let start = z.count_before(|s, _| s < lo);
            for (score, member) in z.iter_from(start, false) {
                if score >= hi {
                    break;
                }
                let (plon, plat) = decode(score);
                let hit = match self.shape {
                    Shape::Radius(r) => {
                        let d = distance(lon, lat, plon, plat);
                        (d <= r).then_some(d)
                    }
                    Shape::Box(w, h) => {
                        if lat_distance(plat, lat) > h / 2.0
                            || distance(plon, plat, lon, plat) > w / 2.0
                        {
                            None
                        } else {
                            Some(distance(lon, lat, plon, plat))
                        }
                    }
                };
                if let Some(d) = hit {
                    found.push((Bytes::copy_from_slice(member), score, d));
                    if found.len() >= limit {
                        break 'ranges;
                    }
                }
            }
        }
        match self.sort {
            Sort::Asc => found.sort_by(|a, b| a.2.total_cmp(&b.2)),
            Sort::Desc => found.sort_by(|a, b| b.2.total_cmp(&a.2)),
            Sort::None => {}
        }
        if self.count != 0 {
            found.truncate(self.count);
        }
        Ok(found)
    }

    fn reply(&self, found: Vec<(Bytes, f64, f64)>) -> Reply {
        let plain = !(self.withdist || self.withhash || self.withcoord);
        Reply::Array(
            found
                .into_iter()
                .map(|(m, score, d)| {
                    if plain {
                        return Reply::Bulk(m);
                    }
                    let mut item = vec![Reply::Bulk(m)];
                    if self.withdist {
                        item.push(Reply::bulk(format!("{:.4}", d / self.unit)));
                    }
                    if self.withhash {
                        item.push(Reply::Int(score as i64));
                    }
                    if self.withcoord {
                        let (lon, lat) = decode(score);
                        item.push(coord_reply(lon, lat));
                    }
                    Reply::Array(item)
                })
                .collect(),
        )
    }
}

/// Score ranges `[lo, hi)` whose cells cover the search area around (lon, lat) with
/// half-extents in meters. A superset: every candidate is checked exactly afterwards.
fn candidate_ranges(lon: f64, lat: f64, half_w: f64, half_h: f64) -> Vec<(f64, f64)> {
    // Bounding box in degrees, widened at the latitude farther from the equator.
    let lat_delta = rad_deg(half_h / EARTH_RADIUS_M);
    let (lat_lo, lat_hi) = ((lat - lat_delta).max(LAT_MIN), (lat + lat_delta).min(LAT_MAX));
    let widest = (lat + lat_delta).abs().max((lat - lat_delta).abs()).min(89.999);
    let lon_delta = rad_deg(half_w / EARTH_RADIUS_M / deg_rad(widest).cos());
    let whole_world = lon_delta >= 180.0;
    let (lon_lo, lon_hi) = (lon - lon_delta, lon + lon_delta);
    // The coarsest step whose cells are still small relative to the area.
    let radius = (half_w * half_w + half_h * half_h).sqrt();
    let mut step = estimate_step(radius, lat);
    let mut ranges = Vec::new();
    loop {
        ranges.clear();
        let cells = (1u64 << step) as f64;
        let lat_cell = (LAT_MAX - LAT_MIN) / cells;
        let lon_cell = (LON_MAX - LON_MIN) / cells;
        let lat_i0 = (((lat_lo - LAT_MIN) / lat_cell).floor() - 1.0).max(0.0) as u64;
        let lat_i1 = (((lat_hi - LAT_MIN) / lat_cell).floor() + 1.0).min(cells - 1.0) as u64;
        let (lon_spans, lon_n): (Vec<(i64, i64)>, u64) = if whole_world {
            (vec![(0, cells as i64 - 1)], cells as u64)
        } else {
            let a = ((lon_lo - LON_MIN) / lon_cell).floor() as i64 - 1;
            let b = ((lon_hi - LON_MIN) / lon_cell).floor() as i64 + 1;
            ((vec![(a, b)]), (b - a + 1) as u64)
        };
        let n = (lat_i1 - lat_i0 + 1) * lon_n.min(cells as u64);
        if n > 64 && step > 1 {
            step -= 1;
            continue;
        }
        let shift = 2 * (STEP - step);
        let total = cells as i64;
        // The cell holding the centre first, then its neighbours (N, S, E, W, NE, NW, SE,
        // SW), then the rest by hash: unsorted replies list members in the order Redis
        // finds them.
        let c_lat = (((lat - LAT_MIN) / lat_cell).floor() as i64).clamp(0, total - 1);
        let c_lon = (((lon - LON_MIN) / lon_cell).floor() as i64).clamp(0, total - 1);
        const AROUND: [(i64, i64); 9] =
            [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)];
        let mut seen = std::collections::HashSet::new();
        let mut cells_found: Vec<(usize, u64)> = Vec::new();
        for lat_i in lat_i0..=lat_i1 {
            for &(a, b) in &lon_spans {
                for lon_i in a..=b {
                    let lon_w = lon_i.rem_euclid(total);
                    if !seen.insert((lat_i, lon_w)) {
                        continue;
                    }
                    let d_lat = lat_i as i64 - c_lat;
                    let d_lon = {
                        let d = (lon_w - c_lon).rem_euclid(total);
                        if d > total / 2 {
                            d - total
                        } else {
                            d
                        }
                    };
                    let rank =
                        AROUND.iter().position(|&o| o == (d_lat, d_lon)).unwrap_or(AROUND.len());
                    let hash = spread(lat_i as u32) | (spread(lon_w as u32) << 1);
                    cells_found.push((rank, hash));
                }
            }
        }
        cells_found.sort_unstable();
        // A centre on the upper edge (latitude 85.05112878 or longitude 180) lies one
        // cell past the grid, as does a member stored there: Redis searches that cell
        // first, so members on the edge are found.
        let raw_lat = ((lat - LAT_MIN) / lat_cell).floor() as i64;
        let raw_lon = ((lon - LON_MIN) / lon_cell).floor() as i64;
        if raw_lat == total || raw_lon == total {
            let hash = spread(raw_lat.clamp(0, total) as u32)
                | (spread(raw_lon.clamp(0, total) as u32) << 1);
            ranges.push(((hash << shift) as f64, ((hash + 1) << shift) as f64));
        }
        for (_, hash) in cells_found {
            ranges.push(((hash << shift) as f64, ((hash + 1) << shift) as f64));
        }
        break;
    }
    ranges
}

fn estimate_step(range_m: f64, lat: f64) -> u32 {
    if range_m == 0.0 {
        return STEP;
    }
    let mut step: i32 = 1;
    let mut r = range_m;
    while r < MERCATOR_MAX {
        r *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, STEP as i32) as u32
}

/// Read-only searches: GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO.
struct GeoSearch<const F: u8> {
    s: Search,
}

impl<const F: u8> Parse for GeoSearch<F> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(GeoSearch { s: Search::parse(args, F)? })
    }
}

impl<const F: u8> ReadCommand for GeoSearch<F> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let z = zset_ref(cx.db().get(&self.s.key, cx.now_ms))?;
        self.s.resolve(z)?;
        let Some(z) = z else {
            return Ok(Reply::Array(Vec::new()));
        };
        let found = self.s.run(z)?;
        Ok(self.s.reply(found))
    }
}

/// Searches that may store: GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER.
struct GeoSearchWrite<const F: u8> {
    s: Search,
}

impl<const F: u8> Parse for GeoSearchWrite<F> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(GeoSearchWrite { s: Search::parse(args, F)? })
    }
}

impl<const F: u8> WriteCommand for GeoSearchWrite<F> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let found = {
            let z = zset_ref(cx.ks.db(cx.db).get(&self.s.key, cx.now_ms))?;
            self.s.resolve(z)?;
            match z {
                Some(z) => self.s.run(z)?,
                None => Vec::new(),
            }
        };
        let Some((dst, dist)) = &self.s.store else {
            return Ok(self.s.reply(found));
        };
        let items: Vec<(f64, Bytes)> = found
            .into_iter()
            .map(|(m, score, d)| (if *dist { d / self.s.unit } else { score }, m))
            .collect();
        let mut items = items;
        items.sort_by(|a, b| cmp_key(a.0, &a.1, b.0, &b.1));
        let event = if F == F_SEARCHSTORE { "geosearchstore" } else { "georadiusstore" };
        let n = store_result(cx, dst, items, event);
        Ok(Reply::Int(n as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_distances_match_redis_digits() {
        let palermo = encode(13.361389, 38.115556);
        assert_eq!(palermo, 3_479_099_956_230_698);
        let (lon, lat) = decode(palermo as f64);
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
        assert_eq!(geohash_string(palermo as f64), "sqc8b49rny0");
        let catania = encode(15.087269, 37.502669);
        let (lon2, lat2) = decode(catania as f64);
        assert_eq!(format!("{:.4}", distance(lon, lat, lon2, lat2)), "166274.1516");
    }

    #[test]
    fn interleaving_round_trips() {
        for v in [0u32, 1, 0x3FF_FFFF, 0x155_5555, 12345] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
    }
}
