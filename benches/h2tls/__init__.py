"""Helpers of benches/h2_tls.py: the servers compared over HTTP/2 and TLS and how each is
started (`servers`), the load generators and what they print (`load`)."""
