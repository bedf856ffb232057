"""The four services of customer-signals; they never import each other."""
