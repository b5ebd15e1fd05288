"""Reference codecs measured against quinr: JPEG2000 (Pillow/OpenJPEG) and COIN."""
