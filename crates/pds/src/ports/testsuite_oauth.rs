//! Conformance cases for [`super::OAuthStore`] (being written).
