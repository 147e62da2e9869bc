//! haoka-services: the number, card, permission and report centers. Filled by later issues.
