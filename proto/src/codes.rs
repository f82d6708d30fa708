//! The codes the REST edges, the stores and the reports use for the proto enums
//! ("hotline", "complaint" ...), in one place for every service.

use crate::v1::{CaseKind, CaseSource};

impl CaseSource {
    /// "petition", else "hotline" (an unspecified source is a hotline case).
    pub fn code(self) -> &'static str {
        match self {
            Self::Petition => "petition",
            Self::Hotline | Self::Unspecified => "hotline",
        }
    }

    pub fn from_code(code: &str) -> Self {
        if code == "petition" { Self::Petition } else { Self::Hotline }
    }

    /// The code of a raw enum value as carried in a message.
    pub fn code_of(value: i32) -> &'static str {
        Self::try_from(value).unwrap_or(Self::Hotline).code()
    }
}

impl CaseKind {
    /// "complaint", "suggestion", "inquiry", "help_request", or "" when unspecified.
    pub fn code(self) -> &'static str {
        match self {
            Self::Complaint => "complaint",
            Self::Suggestion => "suggestion",
            Self::Inquiry => "inquiry",
            Self::HelpRequest => "help_request",
            Self::Unspecified => "",
        }
    }

    pub fn from_code(code: &str) -> Self {
        match code {
            "complaint" => Self::Complaint,
            "suggestion" => Self::Suggestion,
            "inquiry" => Self::Inquiry,
            "help_request" => Self::HelpRequest,
            _ => Self::Unspecified,
        }
    }

    /// The code of a raw enum value as carried in a message ("" when unknown).
    pub fn code_of(value: i32) -> &'static str {
        Self::try_from(value).unwrap_or(Self::Unspecified).code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for k in [CaseKind::Complaint, CaseKind::Suggestion, CaseKind::Inquiry, CaseKind::HelpRequest] {
            assert_eq!(CaseKind::from_code(k.code()), k);
        }
        assert_eq!(CaseSource::from_code(CaseSource::Petition.code()), CaseSource::Petition);
        assert_eq!(CaseSource::code_of(99), "hotline");
        assert_eq!(CaseKind::code_of(99), "");
    }
}
