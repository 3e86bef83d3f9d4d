"""The login host's relay: a local socket whose callers the kernel names, each request
forwarded to the controller as that user (docs/identity.md, "Login hosts")."""
