"""Running ccd as a service: systemd notification, readiness, Prometheus metrics."""
