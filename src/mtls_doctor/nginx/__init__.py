"""nginx configuration: parse (file:line for every directive), effective per-server settings,
version gates, and ``lint`` orchestration."""
