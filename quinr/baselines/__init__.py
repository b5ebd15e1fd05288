"""Reference codecs measured against quinr (JPEG2000 now; COIN follows with the R-D work)."""
