//! Sharding rules: owned by another branch; this stub keeps `proto` compiling.
