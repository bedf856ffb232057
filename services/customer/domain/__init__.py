"""The customer archive's rules, with no I/O: normalisation, the record, audit diffs."""
