"""Composers: each builds one kind of Answer from the knowledge base and the analyzed question."""
