"""Values the verify tests share with their fixtures."""

USER, PASSWORD = "bot", "pa55-w0rd-not-for-output"  # a login of the fake registries
