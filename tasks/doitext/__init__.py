"""Small doit extensions: xxhash file checker, crash-safe backend, run lock."""
