"""Rule family (being written): nginx configuration rules; see rules/__init__.py."""

RULES: tuple = ()
