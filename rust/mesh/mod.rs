//! Service-mesh headers, parsed without Python: trusted proxies, client certificates, trace context, deadlines.
