"""Governance: identity (users, groups, OIDC, API keys), audit, PII, retention, GDPR."""
