"""The knowledge base: its schema, loading with file/line errors, checks, and hot reload."""
