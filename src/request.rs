//! What is known of a request before anything is authenticated: its ids, the client's
//! address and user agent. Read by authentication, the audit log and the error mapping.

/// The per-request facts every resolver and the error mapping may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMeta {
    /// `X-Request-ID`, echoed in `extensions.requestId` of every error: the client's when
    /// it sent one, else the server's.
    pub request_id: String,
    /// The server's own id for the request (the audit log records this one).
    pub server_request_id: String,
    /// The id the client chose, if it sent one.
    pub client_request_id: Option<String>,
    /// The client's address, when known.
    pub client_ip: Option<std::net::IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}
