"""Source parsers: webhook bytes in, normalized alerts out. Pure: no I/O, no clock, no logging."""
