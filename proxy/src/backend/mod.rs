//! Backend
