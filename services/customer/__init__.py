"""The customer archive, accounts, merge/erase and the customer 360 read model."""
