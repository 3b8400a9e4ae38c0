"""Tests that need several services at once."""
