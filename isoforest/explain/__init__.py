"""Explanations for the forest family."""
