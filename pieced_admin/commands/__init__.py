"""Command groups of the `pieced-admin` CLI, one module per area; each exports COMMANDS."""
