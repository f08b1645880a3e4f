//! A hand-written Metadata probe: is a broker up, and which brokers does it
//! list?
//!
//! Written here rather than borrowed from `ferrokafka-protocol` so the xtask
//! that generates that crate's codecs never depends on them, and so the probe
//! is an independent witness. Metadata v4 (request header v1, no tagged
//! fields) is served by Kafka 1.0 through 4.x.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The Metadata API key.
const METADATA: i16 = 3;
/// The Metadata version the probe speaks.
const METADATA_VERSION: i16 = 4;
/// The correlation id of the probe's only request.
const CORRELATION_ID: i32 = 0x6b61_666b;
/// The client id the probe sends.
const CLIENT_ID: &str = "ferrokafka-xtask";
/// The largest response the probe reads.
const MAX_RESPONSE: usize = 16 << 20;

/// A broker as a Metadata response lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broker {
    /// The broker id.
    pub(crate) node_id: i32,
    /// Its advertised host.
    pub(crate) host: String,
    /// Its advertised port.
    pub(crate) port: i32,
}

/// Asks the broker at `addr` for metadata about no topics and returns the
/// brokers it lists.
pub(crate) fn brokers(addr: SocketAddr, timeout: Duration) -> Result<Vec<Broker>, String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&metadata_request())
        .map_err(|e| format!("sending Metadata: {e}"))?;
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .map_err(|e| format!("reading Metadata response: {e}"))?;
    let size = usize::try_from(i32::from_be_bytes(size))
        .ok()
        .filter(|s| *s <= MAX_RESPONSE)
        .ok_or("Metadata response with a bad size")?;
    let mut body = vec![0u8; size];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("reading Metadata response: {e}"))?;
    parse_metadata_response(&body)
}

/// A size-prefixed Metadata v4 request for no topics.
fn metadata_request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&METADATA.to_be_bytes());
    body.extend_from_slice(&METADATA_VERSION.to_be_bytes());
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    // client_id: a non-null string, i16 length.
    let client = CLIENT_ID.as_bytes();
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    // topics: an empty array (v1+: "no topics"; null would be "all").
    body.extend_from_slice(&0i32.to_be_bytes());
    // allow_auto_topic_creation
    body.push(0);
    let mut framed = Vec::with_capacity(body.len() + 4);
    framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed
}

/// Reads the brokers out of a Metadata v4 response body (after the size).
fn parse_metadata_response(body: &[u8]) -> Result<Vec<Broker>, String> {
    let mut r = Reader { rest: body };
    let correlation = r.i32()?;
    if correlation != CORRELATION_ID {
        return Err(format!(
            "Metadata response for correlation id {correlation}"
        ));
    }
    let _throttle_ms = r.i32()?;
    let count = r.i32()?;
    let count = usize::try_from(count).map_err(|_| format!("broker count {count}"))?;
    let mut brokers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let node_id = r.i32()?;
        let host = r.string()?.unwrap_or_default();
        let port = r.i32()?;
        let _rack = r.string()?;
        brokers.push(Broker {
            node_id,
            host,
            port,
        });
    }
    Ok(brokers)
}

/// A cursor over a response body that fails, rather than panics, at its end.
struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
}

impl Reader<'_> {
    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.rest.len() < n {
            return Err("Metadata response ends early".into());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// A big-endian i16.
    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }

    /// A big-endian i32.
    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        let mut out = [0u8; 4];
        out.copy_from_slice(b);
        Ok(i32::from_be_bytes(out))
    }

    /// A nullable string with an i16 length.
    fn string(&mut self) -> Result<Option<String>, String> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_metadata_v4_for_no_topics() {
        let req = metadata_request();
        let size = i32::from_be_bytes([req[0], req[1], req[2], req[3]]);
        assert_eq!(size as usize, req.len() - 4);
        assert_eq!(&req[4..6], &[0, 3]);
        assert_eq!(&req[6..8], &[0, 4]);
        assert_eq!(&req[12..14], &[0, CLIENT_ID.len() as u8]);
        let tail = &req[14 + CLIENT_ID.len()..];
        assert_eq!(tail, &[0, 0, 0, 0, 0]);
    }

    fn response(brokers: &[(i32, &str, i32, Option<&str>)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&CORRELATION_ID.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&(brokers.len() as i32).to_be_bytes());
        for (id, host, port, rack) in brokers {
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&(host.len() as i16).to_be_bytes());
            b.extend_from_slice(host.as_bytes());
            b.extend_from_slice(&port.to_be_bytes());
            match rack {
                Some(r) => {
                    b.extend_from_slice(&(r.len() as i16).to_be_bytes());
                    b.extend_from_slice(r.as_bytes());
                }
                None => b.extend_from_slice(&(-1i16).to_be_bytes()),
            }
        }
        // cluster id, controller id, topics: ignored by the probe.
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b
    }

    #[test]
    fn reads_the_brokers() {
        let body = response(&[
            (1, "127.0.0.1", 40001, None),
            (2, "127.0.0.1", 40002, Some("r1")),
        ]);
        let brokers = parse_metadata_response(&body).unwrap();
        assert_eq!(
            brokers,
            vec![
                Broker {
                    node_id: 1,
                    host: "127.0.0.1".into(),
                    port: 40001
                },
                Broker {
                    node_id: 2,
                    host: "127.0.0.1".into(),
                    port: 40002
                }
            ]
        );
    }

    #[test]
    fn truncated_or_foreign_responses_are_errors() {
        let body = response(&[(1, "127.0.0.1", 40001, None)]);
        for cut in 0..20 {
            assert!(
                parse_metadata_response(&body[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut other = body.clone();
        other[3] ^= 1;
        assert!(parse_metadata_response(&other).is_err());
    }
}
