"""Task 8: load patterns, render templates, validate, check and write outputs."""
