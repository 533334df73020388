"""Tests of the built book in a real browser, and of the build configuration."""
