"""Runnable project scripts (demo)."""
