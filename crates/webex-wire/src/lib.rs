//! Wire types of the Webex protocol subset used for authorization and device
//! registration, shared by the `webex` SDK and `webex-server`.
//!
//! Every type here serializes exactly as the Webex cloud does (camelCase JSON),
//! so a client built on these types talks to Webex's cloud and to
//! `webex serve` alike. Field names and codes come from the official JS SDK's
//! behaviour; see `docs/protocol/webex-protocol.md` in the repository.
//!
//! ```
//! use webex_wire::token::AccessTokenParts;
//!
//! let parts: AccessTokenParts = "c2VjcmV0_PF84_4b6a0b2c-1111-2222-3333-444455556666".parse()?;
//! assert_eq!(parts.org_id(), "4b6a0b2c-1111-2222-3333-444455556666");
//! # Ok::<(), webex_wire::token::TokenFormatError>(())
//! ```

pub mod catalog;
pub mod close;
pub mod device;
pub mod error;
pub mod locus;
pub mod mercury;
pub mod oauth;
pub mod people;
pub mod roap;
pub mod token;
pub mod tracking;
