//! Callers' numbers are personal data: they are shown masked (`138****1234`) in logs, the
//! wallboard and API answers unless a role that may see them asks, with a reason that goes
//! into the audit ledger (docs/decisions/0015-api-roles-and-audit.md).
//!
//! [`CallerNumber`] carries a number through views and logs and masks it wherever it is
//! printed or serialized; only [`CallerNumber::revealed`], called by the HTTP layer after the
//! role check and the audit entry, lets the real number out.

use std::fmt;

use serde::{Serialize, Serializer};

/// The masked form of a caller's number: the four characters before the last four become
/// `*` (`13812341234` → `138****1234`, `037112345678` → `0371****5678`,
/// `+8613812341234` → `+86138****1234`, `66668888` → `****8888`). Six or seven characters
/// keep only the last two (`6123456` → `*****56`). Five characters or fewer are shown as
/// they are: those are service numbers (110, 12345, 95588) and seat extensions (1001), not a
/// person's line. The length is kept, so a masked number still looks like the number it was.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    let hidden = match n {
        0..=5 => return number.to_owned(),
        6 | 7 => 0..n - 2,
        _ => n - 8..n - 4,
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if hidden.contains(&i) { '*' } else { c })
        .collect()
}

/// A caller's number that prints and serializes masked (see [`mask_number`]) unless it was
/// explicitly [revealed](Self::revealed). `Debug` always masks, so a view logged with `?`
/// never leaks the number.
#[derive(Clone, PartialEq, Eq)]
pub struct CallerNumber {
    number: String,
    revealed: bool,
}

impl CallerNumber {
    /// A number, masked wherever it is shown.
    pub const fn new(number: String) -> Self {
        Self {
            number,
            revealed: false,
        }
    }

    /// The same number, serialized in full. Only for an answer to a role that may see it,
    /// after the view has been written to the audit ledger.
    #[must_use]
    pub fn revealed(self) -> Self {
        Self {
            revealed: true,
            ..self
        }
    }

    /// The masked form.
    pub fn masked(&self) -> String {
        mask_number(&self.number)
    }
}

impl fmt::Debug for CallerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl fmt::Display for CallerNumber {
    /// Always masked: `Display` is what logs use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for CallerNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.revealed {
            s.serialize_str(&self.number)
        } else {
            s.serialize_str(&self.masked())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_hide_the_middle_four_digits() {
        assert_eq!(mask_number("13812341234"), "138****1234");
        assert_eq!(mask_number("+8613812341234"), "+86138****1234");
        assert_eq!(mask_number("008613812341234"), "0086138****1234");
    }

    #[test]
    fn landlines_hide_the_four_before_the_last_four() {
        assert_eq!(mask_number("037112345678"), "0371****5678");
        assert_eq!(mask_number("66668888"), "****8888");
        assert_eq!(mask_number("666688889"), "6****8889");
    }

    #[test]
    fn six_or_seven_characters_keep_the_last_two() {
        assert_eq!(mask_number("6123456"), "*****56");
        assert_eq!(mask_number("612345"), "****45");
    }

    #[test]
    fn service_numbers_and_extensions_are_not_masked() {
        for n in ["", "110", "12345", "1001", "95588"] {
            assert_eq!(mask_number(n), n);
        }
    }

    #[test]
    fn anything_else_is_masked_by_characters_and_keeps_its_length() {
        assert_eq!(mask_number("anonymous"), "a****mous");
        // Non-ASCII user parts are cut on characters, never inside one.
        let masked = mask_number("张三的手机号码");
        assert_eq!(masked.chars().count(), 7);
        assert_eq!(masked, "*****号码");
    }

    #[test]
    fn a_caller_number_prints_masked_unless_revealed() {
        let n = CallerNumber::new("13812341234".into());
        assert_eq!(n.to_string(), "138****1234");
        assert_eq!(format!("{n:?}"), "\"138****1234\"");
        assert_eq!(serde_json::to_string(&n).expect("json"), "\"138****1234\"");
        let shown = n.revealed();
        assert_eq!(
            serde_json::to_string(&shown).expect("json"),
            "\"13812341234\""
        );
        // Logs stay masked even for a revealed number.
        assert_eq!(shown.to_string(), "138****1234");
        assert_eq!(format!("{shown:?}"), "\"138****1234\"");
    }
}
