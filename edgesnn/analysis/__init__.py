"""Measurement: firing rates, natural pruning, operation counts and energy."""
