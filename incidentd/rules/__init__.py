"""The YAML files SREs edit: their schema, the loader with file:line errors, hot reload."""
