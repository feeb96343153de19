//! Bundled systems under test. Not built yet: see the systems/kv issue.
