//! Request and response headers, and whole request/response payloads.
//!
//! The header version depends on the API and its version (flexible versions
//! use request header v2 and response header v1; ApiVersions responses always
//! use v0, see [`ApiKey::response_header_version`]). The functions here pick
//! it, so callers only name the API version. A receiver reads the API key and
//! version first ([`peek_request_api`]) so that it can answer a version it
//! does not support with UNSUPPORTED_VERSION instead of failing to parse.

use bytes::{Bytes, BytesMut};

use crate::codec::{Decode, Encode, Request, Response};
use crate::error::{ProtocolError, Result};
use crate::generated::{RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use crate::{ApiKey, primitives};

/// Builds the header of a request of type `R` at `version`.
pub fn request_header<R: Request>(
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> RequestHeader {
    RequestHeader {
        request_api_key: R::API_KEY.key(),
        request_api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_owned),
        ..RequestHeader::default()
    }
}

/// Appends a request's header and body (no size prefix) at `version`.
pub fn encode_request<R: Request>(
    buf: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    request: &R,
) -> Result<()> {
    let header = request_header::<R>(version, correlation_id, client_id);
    header.encode(buf, R::API_KEY.request_header_version(version))?;
    request.encode(buf, version)
}

/// The API key (as sent, possibly unknown) and version at the front of a
/// request payload, read without consuming it.
pub fn peek_request_api(payload: &Bytes) -> Result<(i16, i16)> {
    let mut peek = payload.slice(..payload.len().min(4));
    let key = primitives::get_i16(&mut peek, "RequestHeader.RequestApiKey")?;
    let version = primitives::get_i16(&mut peek, "RequestHeader.RequestApiVersion")?;
    Ok((key, version))
}

/// Reads a request header from the front of `payload`, at the header version
/// its API key and version call for.
pub fn decode_request_header(payload: &mut Bytes) -> Result<RequestHeader> {
    let (key, version) = peek_request_api(payload)?;
    let api = ApiKey::try_from(key)?;
    RequestHeader::decode(payload, api.request_header_version(version))
}

/// Reads a whole request payload (header and body). Fails with
/// [`ProtocolError::UnsupportedVersion`] for a version the specs do not define.
///
/// Bytes after the body are ignored, as Kafka's broker ignores them:
/// librdkafka 2.12 sends three trailing bytes after its all-topics Metadata
/// v12 request, and a broker that refused them would refuse librdkafka.
pub fn decode_request(mut payload: Bytes) -> Result<(RequestHeader, RequestKind)> {
    let header = decode_request_header(&mut payload)?;
    let api = ApiKey::try_from(header.request_api_key)?;
    let body = RequestKind::decode(api, &mut payload, header.request_api_version)?;
    Ok((header, body))
}

/// Appends a response's header and body (no size prefix) at `version`.
pub fn encode_response<R: Response>(
    buf: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    response: &R,
) -> Result<()> {
    encode_response_kind(buf, R::API_KEY, version, correlation_id, |buf| {
        response.encode(buf, version)
    })
}

/// Appends a response of any API: header, then whatever `body` writes.
pub fn encode_response_kind(
    buf: &mut BytesMut,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: impl FnOnce(&mut BytesMut) -> Result<()>,
) -> Result<()> {
    let header = ResponseHeader {
        correlation_id,
        ..ResponseHeader::default()
    };
    header.encode(buf, api.response_header_version(version))?;
    body(buf)
}

/// Reads a response header for a request of `api` at `version`.
pub fn decode_response_header(
    payload: &mut Bytes,
    api: ApiKey,
    version: i16,
) -> Result<ResponseHeader> {
    ResponseHeader::decode(payload, api.response_header_version(version))
}

/// Reads a whole response payload for a request of type `R` sent at `version`.
pub fn decode_response<R: Request>(
    mut payload: Bytes,
    version: i16,
) -> Result<(ResponseHeader, R::Response)> {
    let header = decode_response_header(&mut payload, R::API_KEY, version)?;
    let body = R::Response::decode(&mut payload, version)?;
    primitives::ensure_consumed(&payload, R::API_KEY.name())?;
    Ok((header, body))
}

/// Reads a whole response payload of any API.
pub fn decode_response_kind(
    mut payload: Bytes,
    api: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseKind)> {
    let header = decode_response_header(&mut payload, api, version)?;
    let body = ResponseKind::decode(api, &mut payload, version)?;
    if !payload.is_empty() {
        return Err(ProtocolError::TrailingBytes {
            what: api.name(),
            remaining: payload.len(),
        });
    }
    Ok((header, body))
}
