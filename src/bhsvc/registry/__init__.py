"""Registry providers: provisioning (GAR) and push credentials (all providers)."""
