//! Tests of the scheme through its PaymentBridge calls.
