"""Reports over recorded runs: pure analysis, then one renderer per format."""
