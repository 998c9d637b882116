//! Reason phrases of final SIP statuses.

/// The reason phrase of a final SIP status (RFC 3261 §21 and later RFCs). Unlisted codes get
/// their class's name, as a UAC treats them like `x00` (RFC 3261 §8.1.3.2).
pub const fn reason_phrase(status: u16) -> &'static str {
    match known(status) {
        Some(phrase) => phrase,
        None => match status / 100 {
            4 => "Request Failure",
            5 => "Server Failure",
            6 => "Global Failure",
            _ => "Unknown",
        },
    }
}

/// The phrases the RFCs give.
const fn known(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::reason_phrase;

    #[test]
    fn phrases() {
        assert_eq!(reason_phrase(404), "Not Found");
        assert_eq!(reason_phrase(499), "Request Failure");
        assert_eq!(reason_phrase(599), "Server Failure");
        assert_eq!(reason_phrase(699), "Global Failure");
        assert_eq!(reason_phrase(200), "Unknown");
    }
}
