"""Where a service serves its Prometheus metrics: a port of its own, on loopback unless told otherwise
(metrics name stations and topics; the OCPP and query ports face other people)."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve_metrics(service: str, host: str, port: int) -> bool:
    """Serve the process's metrics on http://host:port/metrics; port 0: not served. A port in use is
    logged and the service runs on without them (its work matters more than its counters)."""
    if port <= 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error(
            "%s metrics not served: %s:%d: %s (set CHARGESTREAM_%s_METRICS_PORT to a free port, 0 = off)",
            service,
            host,
            port,
            exc,
            service.upper(),
        )
        return False
    log.info("%s metrics on http://%s:%d/metrics", service, host, port)
    return True
