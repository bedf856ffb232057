"""The interaction service's rules, free of I/O: what is recorded, how, and how it is read back."""
