"""The simulated Azure: ARM endpoints answered in-process from one SQLite state file."""
