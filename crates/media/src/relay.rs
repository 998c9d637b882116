//! Being built (issue 5).
