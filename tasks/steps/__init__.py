"""Actions of the workflow tasks other than codegen, one module per phase."""
