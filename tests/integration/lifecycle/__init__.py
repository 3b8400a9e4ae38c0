"""Tests that need several services at once. They run after the single-service folders
(pytest's order is alphabetical): once eligibility runs, every application gets decided,
which the intake-only tests must not see."""
