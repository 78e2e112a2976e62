"""Source connectors (SharePoint/OneDrive, Google Drive, WebDAV, S3, local folders) and their sync.

base.py holds the capability protocols, runner.py the sync semantics, manager.py configuration,
jobs, schedule and watch; one module per connector, listed in registry.py.
"""
