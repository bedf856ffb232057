"""The demo: runs every service as a local process next to the stack (and, later, its data)."""
