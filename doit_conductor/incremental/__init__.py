"""What makes doit's incremental runs fast and safe: the content-hash checker,
the dependency DB backend and the run lock that guards it."""
