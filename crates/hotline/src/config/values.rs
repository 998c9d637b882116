//! Value types of the file that check themselves while being read: durations, seat id
//! lists, dialable numbers and pool names. Their errors carry the value's span, so they are
//! reported with its line and key like any other type error.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use acd_core::Pool;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// How durations may be written, for error messages.
const DURATION_FORMS: &str = "write e.g. \"15s\", \"2m\", \"1h30m\", \"500ms\" or whole seconds";

/// Parses `"15s"`, `"2m"`, `"1h30m"`, `"500ms"`, `"90"` (seconds). Units come largest first,
/// each at most once.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad = || format!("{text:?} is not a duration; {DURATION_FORMS}");
    if s.is_empty() {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(Duration::from_secs).map_err(|_| bad());
    }
    // (unit, milliseconds per unit), in the only order allowed.
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)];
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let letters = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        if digits == 0 || letters == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = &rest[digits..digits + letters];
        let Some(offset) = UNITS[next_unit..].iter().position(|(u, _)| *u == unit) else {
            return Err(bad());
        };
        let index = next_unit + offset;
        total = value
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(bad)?;
        next_unit = index + 1;
        rest = &rest[digits + letters..];
    }
    Ok(Duration::from_millis(total))
}

/// Writes a duration the way the file would: `"1h30m"`, `"15s"`, `"500ms"`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let (h, m, s, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    for (v, unit) in [(h, "h"), (m, "m"), (s, "s"), (rest, "ms")] {
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
        }
    }
    out
}

/// A duration read from a string or whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Dur(pub(crate) Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration; {DURATION_FORMS}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                u64::try_from(v)
                    .map(|s| Dur(Duration::from_secs(s)))
                    .map_err(|_| E::custom(format!("{v} is negative; {DURATION_FORMS}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number of seconds; {DURATION_FORMS}"
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Dur, A::Error> {
                Err(de::Error::custom(format!(
                    "a table or date is not a duration; {DURATION_FORMS}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// Lowest port an RTP range may use: below are the privileged ports.
const MIN_RTP_PORT: u32 = 1024;

/// Parses an RTP port range `"20000-29999"`: within 1024..=65535, upwards, starting on an even
/// port (RTP even, RTCP the odd port above), holding at least two RTP/RTCP pairs.
pub(crate) fn parse_port_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let form = "write e.g. \"20000-29999\"";
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a port range; {form}"))?;
    let port = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("{text:?} is not a port range; {form}"))
    };
    let (first, last) = (port(a)?, port(b)?);
    let max = u32::from(u16::MAX);
    if !(MIN_RTP_PORT..=max).contains(&first) || !(MIN_RTP_PORT..=max).contains(&last) {
        return Err(format!(
            "port range {text:?} must lie within {MIN_RTP_PORT}-{max}"
        ));
    }
    if first > last {
        return Err(format!(
            "port range {text:?} runs backwards; write the lower port first"
        ));
    }
    if first % 2 != 0 {
        return Err(format!(
            "port range {text:?} must start on an even port: RTP takes even ports, RTCP the \
             odd port above each"
        ));
    }
    // Whole (even, odd) pairs in first..=last: (last - first + 1) / 2.
    let pairs = (last - first).div_ceil(2);
    if pairs < 2 {
        return Err(format!(
            "port range {text:?} holds {pairs} RTP/RTCP pair; need at least 2"
        ));
    }
    // Both are within 1024..=65535, checked above.
    let to_u16 = |p: u32| u16::try_from(p).unwrap_or(u16::MAX);
    Ok(to_u16(first)..=to_u16(last))
}

/// An RTP port range read from `"20000-29999"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ports(pub(crate) RangeInclusive<u16>);

impl Default for Ports {
    fn default() -> Self {
        Self(20000..=29999)
    }
}

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ports;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port range, e.g. \"20000-29999\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ports, E> {
                parse_port_range(v).map(Ports).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Largest range one seat list may hold; more is surely a typo.
const MAX_RANGE: u32 = 100_000;

/// Parses `"1001-1114, 1120"` into ids, in the order written.
pub(crate) fn parse_seat_ids(text: &str, out: &mut Vec<u32>) -> Result<(), String> {
    for part in text.split(',') {
        let part = part.trim();
        let id = |s: &str| {
            s.trim().parse::<u32>().map_err(|_| {
                format!(
                    "{part:?} is not a seat id or range; write e.g. \"1001\", \"1001-1114\" or \
                     \"1001-1010, 1020\""
                )
            })
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (first, last) = (id(a)?, id(b)?);
                if first > last {
                    return Err(format!(
                        "seat range {part:?} runs backwards; write the lower id first"
                    ));
                }
                if last - first >= MAX_RANGE {
                    return Err(format!(
                        "seat range {part:?} holds more than {MAX_RANGE} seats"
                    ));
                }
                out.extend(first..=last);
            }
            None => out.push(id(part)?),
        }
    }
    Ok(())
}

/// Seat ids from `"1001-1114"`, `1001`, or a list of these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SeatIds(pub(crate) Vec<u32>);

impl<'de> Deserialize<'de> for SeatIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V(Vec<u32>);
        impl<'de> Visitor<'de> for V {
            type Value = Vec<u32>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seat ids: a range like \"1001-1114\", an id, or a list of these")
            }
            fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<Vec<u32>, E> {
                let id = u32::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not a seat id (0..=4294967295)")))?;
                self.0.push(id);
                Ok(self.0)
            }
            fn visit_str<E: de::Error>(mut self, v: &str) -> Result<Vec<u32>, E> {
                parse_seat_ids(v, &mut self.0).map_err(E::custom)?;
                Ok(self.0)
            }
            fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Vec<u32>, A::Error> {
                while let Some(SeatIds(ids)) = seq.next_element()? {
                    self.0.extend(ids);
                }
                Ok(self.0)
            }
        }
        d.deserialize_any(V(Vec::new())).map(SeatIds)
    }
}

/// A dialable number, written as a string (`"12345"`) or an integer (`12345`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Number(pub(crate) String);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number to dial, e.g. \"12345\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                if v < 0 {
                    return Err(E::custom(format!("{v} is not a number to dial")));
                }
                Ok(Number(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                Ok(Number(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The pool names of the file, in [`Pool::ALL`] order.
pub(crate) const POOL_NAMES: [&str; Pool::COUNT] =
    ["intake", "support", "surge", "expert", "leader"];

/// The file's name of a pool.
pub(crate) const fn pool_name(pool: Pool) -> &'static str {
    POOL_NAMES[pool.index()]
}

/// A pool named in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolName(pub(crate) Pool);

impl<'de> Deserialize<'de> for PoolName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PoolName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a pool: {}", POOL_NAMES.join(", "))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PoolName, E> {
                POOL_NAMES
                    .iter()
                    .position(|&n| n == v)
                    .map(|i| PoolName(Pool::ALL[i]))
                    .ok_or_else(|| {
                        E::custom(format!(
                            "unknown pool {v:?}; pools are {}",
                            POOL_NAMES.join(", ")
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

/// The host of a URI: an IP address or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    Name(String),
}

/// The host and port of a URI's `host[:port]`, `[v6][:port]` part; `what` names the URI
/// in messages.
fn host_port(hostport: &str, what: &str) -> Result<(Host, Option<u16>), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{what} has an unclosed [ in its host"))?;
        let ip = v6
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("{what} has no IPv6 address within [ ]"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("{what} has {after:?} after its host"))?,
            ),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        if host.is_empty() {
            return Err(format!("{what} has no host"));
        }
        let host = match host.parse::<Ipv4Addr>() {
            Ok(ip) => Host::Ip(IpAddr::V4(ip)),
            Err(_)
                if host.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }) =>
            {
                Host::Name(host.to_ascii_lowercase())
            }
            Err(_) => {
                return Err(format!(
                    "{what} has no valid host: {host:?} is neither an IP address nor a host name \
                     (an IPv6 address goes within [ ])"
                ))
            }
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(p @ 1..) => Some(p),
            _ => return Err(format!("{what} has port {p:?}; a port is 1..65535")),
        },
    };
    Ok((host, port))
}

/// How a SIP URI may be written, for error messages.
const SIP_FORM: &str = "write e.g. \"sip:12333@10.0.0.5\", \"sip:12333@10.0.0.5:5060\" or, over \
                        TLS, \"sips:12333@10.0.0.5:5061\"";

/// The port a SIP URI without one means (RFC 3261 §19.1.2).
pub(crate) const SIP_PORT: u16 = 5060;

/// The port a `sips:` or `;transport=tls` URI without one means (RFC 3261 §19.1.2).
pub(crate) const SIPS_PORT: u16 = 5061;

/// A checked SIP URI: `sip:` or `sips:`, `[user@]host[:port][;params][?headers]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SipUri {
    pub(crate) host: Host,
    pub(crate) port: Option<u16>,
    /// Dialled over TLS: `sips:`, or `;transport=tls`.
    pub(crate) tls: bool,
}

impl SipUri {
    /// The address of the host, when it is an IP (port [`SIP_PORT`], or [`SIPS_PORT`] over
    /// TLS, unless given); an IPv4-mapped IPv6 address as its IPv4 address.
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        let default = if self.tls { SIPS_PORT } else { SIP_PORT };
        match &self.host {
            Host::Ip(ip) => Some(SocketAddr::new(
                ip.to_canonical(),
                self.port.unwrap_or(default),
            )),
            Host::Name(_) => None,
        }
    }
}

/// Parses a `sip:` or `sips:` URI (the scheme in any case), checking that it has a host and,
/// if given, a port 1..65535 and a transport we speak (`udp`, `tcp`, `tls`).
pub(crate) fn parse_sip_uri(text: &str) -> Result<SipUri, String> {
    let lower = text.to_ascii_lowercase();
    let (sips, rest) = if lower.starts_with("sips:") {
        (true, &text[5..])
    } else if lower.starts_with("sip:") {
        (false, &text[4..])
    } else {
        let why = if lower.starts_with("tel:") {
            " (tel: is not dialled; name the trunk that takes the number)"
        } else {
            ""
        };
        return Err(format!(
            "{text:?} is not a sip: or sips: URI{why}; {SIP_FORM}"
        ));
    };
    let what = format!("SIP URI {text:?}");
    if rest.chars().any(char::is_whitespace) {
        return Err(format!("{what} holds white space; {SIP_FORM}"));
    }
    let hostpart = match rest.split_once('@') {
        Some(("", _)) => return Err(format!("{what} has an empty user before @; {SIP_FORM}")),
        Some((_, hostpart)) => hostpart,
        None => rest,
    };
    let end = hostpart.find([';', '?']).unwrap_or(hostpart.len());
    let (host, port) =
        host_port(&hostpart[..end], &what).map_err(|e| format!("{e}; {SIP_FORM}"))?;
    let params = hostpart[end..].split('?').next().unwrap_or_default();
    let transport = params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.eq_ignore_ascii_case("transport")
            .then(|| value.to_ascii_lowercase())
    });
    let tls = match transport.as_deref() {
        _ if sips => true,
        None | Some("udp" | "tcp") => false,
        Some("tls") => true,
        Some(other) => {
            return Err(format!(
                "{what} names transport {other:?}; the platform speaks udp, tcp and tls"
            ))
        }
    };
    Ok(SipUri { host, port, tls })
}

/// Checks an `http://` URL (the ticket push): a host, a port 1..65535 if given; `https://`
/// is refused, the platform does not speak TLS to ticket systems.
pub(crate) fn check_http_url(text: &str) -> Result<(), String> {
    const FORM: &str = "write e.g. \"http://10.0.0.7:8080/tickets\"";
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(format!(
            "{text:?}: https is not supported; use an http:// endpoint or a TLS-terminating proxy"
        ));
    }
    let Some(rest) = text.get(7..).filter(|_| lower.starts_with("http://")) else {
        return Err(format!("{text:?} is not an http:// URL; {FORM}"));
    };
    let what = format!("URL {text:?}");
    if rest.chars().any(char::is_whitespace) {
        return Err(format!("{what} holds white space; {FORM}"));
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port(hostport, &what).map_err(|e| format!("{e}; {FORM}"))?;
    Ok(())
}

/// A TOML table read in file order (the `toml` crate keeps document order).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ordered<K, V>(pub(crate) Vec<(K, V)>);

impl<K, V> Default for Ordered<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Ordered<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Vis<K, V> {
            type Value = Ordered<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("15s"), Duration::from_secs(15));
        assert_eq!(ok("15"), Duration::from_secs(15));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1m30s500ms"), Duration::from_millis(90_500));
        assert_eq!(ok("0s"), Duration::ZERO);
        for bad in [
            "", "s", "15 sec", "1.5s", "30m1h", "1s1s", "10d", "-5s", "5s ",
        ] {
            if bad == "5s " {
                assert!(parse_duration(bad).is_ok(), "{bad}"); // trimmed
            } else {
                assert!(parse_duration(bad).is_err(), "{bad}");
            }
        }
        assert!(parse_duration("99999999999999999999h").is_err());
        for d in ["1h30m", "15s", "500ms", "0s", "2m5s"] {
            assert_eq!(format_duration(ok(d)), d);
        }
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("20000-29999").unwrap(), 20000..=29999);
        assert_eq!(parse_port_range("1024-1027").unwrap(), 1024..=1027);
        assert_eq!(parse_port_range("65532-65535").unwrap(), 65532..=65535);
        for (bad, part) in [
            ("20001-20003", "even port"),
            ("5-10", "within 1024-65535"),
            ("30000-20000", "backwards"),
            ("20000-20002", "need at least 2"),
            ("20000-70000", "within"),
            ("20000", "not a port range"),
            ("a-b", "not a port range"),
        ] {
            let e = parse_port_range(bad).unwrap_err();
            assert!(e.contains(part), "{bad}: {e}");
        }
    }

    #[test]
    fn sip_uris() {
        let addr = |s: &str| parse_sip_uri(s).unwrap().addr();
        let sa = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert_eq!(addr("sip:12333@127.0.0.1:5071"), sa("127.0.0.1:5071"));
        assert_eq!(addr("sip:12333@10.0.0.5"), sa("10.0.0.5:5060"));
        assert_eq!(addr("SIP:110@10.0.0.5;transport=udp"), sa("10.0.0.5:5060"));
        assert_eq!(
            addr("sip:+8612333;phone-context=x@10.0.0.5:5080;user=phone"),
            sa("10.0.0.5:5080")
        );
        assert_eq!(
            addr("sip:12333@[2001:db8::1]:5070"),
            sa("[2001:db8::1]:5070")
        );
        assert_eq!(
            addr("sip:12333@[::ffff:10.0.0.5]:5070"),
            sa("10.0.0.5:5070")
        );
        assert_eq!(addr("sip:10.0.0.5:5070"), sa("10.0.0.5:5070"));
        // Over TLS: 5061 unless given.
        assert_eq!(addr("sips:12333@10.0.0.5"), sa("10.0.0.5:5061"));
        assert_eq!(addr("SIPS:12333@10.0.0.5:5071"), sa("10.0.0.5:5071"));
        assert_eq!(
            addr("sip:12333@10.0.0.5;transport=TLS"),
            sa("10.0.0.5:5061")
        );
        assert!(parse_sip_uri("sips:12333@10.0.0.5").unwrap().tls);
        assert!(
            !parse_sip_uri("sip:12333@10.0.0.5;transport=tcp")
                .unwrap()
                .tls
        );
        assert_eq!(addr("sip:12333@sbc.example.org:5070"), None);
        assert_eq!(
            parse_sip_uri("sip:12333@SBC.example.org").unwrap().host,
            Host::Name("sbc.example.org".into())
        );
        for (bad, part) in [
            ("http://x", "is not a sip: or sips: URI"),
            ("sip:", "has no host"),
            ("sip:12333@", "has no host"),
            ("sip:12333@:5060", "has no host"),
            ("sip:@10.0.0.5", "empty user"),
            ("sip:12333@10.0.0.5:0", "port \"0\""),
            ("sip:12333@10.0.0.5:70000", "port \"70000\""),
            ("sip:12333@10.0.0.5:x", "port \"x\""),
            ("sip:12333@[2001:db8::1", "unclosed"),
            ("sip:12333@[10.0.0.5]", "no IPv6 address"),
            ("sip:12333@2001:db8::1", "no valid host"),
            ("sip:12333@bad_host", "no valid host"),
            ("sip:12333 @10.0.0.5", "white space"),
            ("sip:12333@10.0.0.5;transport=sctp", "transport \"sctp\""),
            ("tel:12333", "tel: is not dialled"),
        ] {
            let e = parse_sip_uri(bad).unwrap_err();
            assert!(e.contains(part), "{bad}: {e}");
        }
    }

    #[test]
    fn http_urls() {
        for good in [
            "http://10.0.0.7:8080/tickets",
            "http://tickets.example.org/api?x=1",
            "HTTP://10.0.0.7",
            "http://user:pw@10.0.0.7:8080/",
        ] {
            assert!(check_http_url(good).is_ok(), "{good}");
        }
        for (bad, part) in [
            (
                "https://10.0.0.7/tickets",
                "use an http:// endpoint or a TLS-terminating proxy",
            ),
            ("ftp://x", "not an http:// URL"),
            ("10.0.0.7", "not an http:// URL"),
            ("http://", "has no host"),
            ("http:///tickets", "has no host"),
            ("http://10.0.0.7:99999/", "port"),
        ] {
            let e = check_http_url(bad).unwrap_err();
            assert!(e.contains(part), "{bad}: {e}");
        }
    }

    #[test]
    fn seat_ids() {
        let mut v = Vec::new();
        parse_seat_ids("1001-1003, 1010", &mut v).unwrap();
        assert_eq!(v, [1001, 1002, 1003, 1010]);
        for bad in ["1003-1001", "x", "1-", "", "1-200000"] {
            assert!(parse_seat_ids(bad, &mut Vec::new()).is_err(), "{bad}");
        }
    }
}
