"""Safe handling of uploaded media: limits first, decoding second."""
