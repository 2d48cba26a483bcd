"""Relevance feedback (search sessions, judgements) arrives with the relevance-feedback issue."""
